"""Self-supervised training: Ray Train (what a run does) against a plain single-process PyTorch loop.

    .venv/bin/python bench/training.py [--images 1024 --epochs 10 --size 64 --batch-size 64
                                        --model resnet-18 --precision 32 --workers N
                                        --checkpoint-every-s 60 --no-shuffle --train-actors]

Generates N images (stripes and discs in random colours, `tests/data/shape_groups.py`), then,
in the same process and on the same images, model, optimizer (AdamW), batch size and
augmentations (lightly's SimCLR views, `lightly_ray.training.augment`):
- `train`: `lightly_ray.training.trainer.train_embedding_model`, as a run calls it: a Ray
  dataset of the decoded images (materialized, as the run's are), augmentation in Ray Data
  tasks, a `TorchTrainer` whose workers run SimCLR epochs, the weights handed back; timed from
  the call to its return (Ray Train's start included). One CPU worker on this one node runs in
  Ray Train's local mode, as a run's does; `--train-actors` runs it in Train's controller and
  worker actors instead (what a run does with several workers, GPUs or nodes);
- `baseline`: one process that, per epoch, shuffles the images, augments each batch's two
  views with the same function, and trains the same network with torch's threads on every
  core (on the GPU with --device cuda); timed from building the network to the last step.
Both count images x epochs over their wall time. Prints one JSON object on its last line:
images, epochs, train_img_s, baseline_img_s, ratio, plus each side's seconds, its steady rate
(epochs after the first) and its last loss.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _images(count: int, size: int) -> np.ndarray:
    from tests.data.shape_groups import shape_image

    rng = np.random.default_rng(0)
    return np.stack([shape_image(index % 2, rng, size) for index in range(count)])


def _lightly(args: argparse.Namespace) -> Any:
    from lightly_ray.config.lightly import LightlyConfig

    return LightlyConfig.model_validate(
        {
            "model": {"name": args.model, "weights": "random"},
            "collate": {"input_size": args.size},
            "loader": {"batch_size": args.batch_size, "shuffle": not args.no_shuffle},
            "trainer": {"max_epochs": args.epochs, "precision": args.precision},
            "optimizer": {"name": "adamw", "lr": 0.001},
        }
    )


def run_ray_train(args: argparse.Namespace, images: np.ndarray) -> dict[str, Any]:
    """Train through Ray Train as a run does; seconds from the call to the weights back."""
    import ray

    from lightly_ray.models.backbones import build_state
    from lightly_ray.training.trainer import cluster_nodes, train_embedding_model, training_shape

    lightly = _lightly(args)
    state = build_state(lightly.model, lightly.seed, None)
    rows = ray.data.from_numpy_refs([ray.put(part) for part in np.array_split(images, 8)])
    rows = rows.rename_columns({"data": "image"}).materialize()
    shape = training_shape(lightly, cluster_nodes(), args.workers, args.torch_threads)
    if args.train_actors:
        shape = dataclasses.replace(shape, local_mode=False)
    with tempfile.TemporaryDirectory() as storage:
        began = time.perf_counter()
        result = train_embedding_model(
            lightly,
            rows,
            len(images),
            state,
            shape,
            storage,
            "bench",
            checkpoint_every_s=args.checkpoint_every_s,
        )
        seconds = time.perf_counter() - began
    steady = result.epochs[1:]
    return {
        "seconds": seconds,
        "img_s": len(images) * args.epochs / seconds,
        "steady_img_s": (
            sum(epoch["images"] for epoch in steady) / sum(epoch["seconds"] for epoch in steady)
            if steady
            else None
        ),
        "loss": result.epochs[-1]["loss"],
        "shape": shape.describe(),
    }


def run_baseline(args: argparse.Namespace, images: np.ndarray) -> dict[str, Any]:
    """The same training in one plain loop in this process."""
    import torch
    from lightly.loss import NTXentLoss

    from lightly_ray.models.backbones import build_state
    from lightly_ray.training.augment import augment_views
    from lightly_ray.training.loop import make_optimizer
    from lightly_ray.training.network import SimCLRNetwork

    lightly = _lightly(args)
    state = build_state(lightly.model, lightly.seed, None)
    device = torch.device(args.device)
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(lightly.seed)
    began = time.perf_counter()
    network = SimCLRNetwork(lightly.model)
    network.embedding.load_state_dict({key: torch.from_numpy(value) for key, value in state.items()})
    network = network.to(device).train()
    optimizer = make_optimizer(lightly, network)
    criterion = NTXentLoss(temperature=lightly.criterion.temperature)
    mixed = device.type == "cuda" and args.precision == 16
    scaler = torch.amp.GradScaler("cuda", enabled=mixed)
    batch, epoch_seconds, loss_value = args.batch_size, [], 0.0
    for _ in range(args.epochs):
        epoch_began = time.perf_counter()
        order = rng.permutation(len(images))
        for start in range(0, len(images) - batch + 1, batch):
            views = augment_views({"image": images[order[start : start + batch]]}, lightly.collate)
            pixels = torch.from_numpy(np.concatenate([views["view0"], views["view1"]])).to(device)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=mixed):
                projections = network(pixels)
                loss = criterion(projections[:batch].float(), projections[batch:].float())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_value = float(loss.detach())
        epoch_seconds.append(time.perf_counter() - epoch_began)
    seconds = time.perf_counter() - began
    steady = epoch_seconds[1:]
    used = len(images) // batch * batch
    return {
        "seconds": seconds,
        "img_s": len(images) * args.epochs / seconds,
        "steady_img_s": used * len(steady) / sum(steady) if steady else None,
        "loss": loss_value,
    }


def main() -> None:
    """Run both sides on the same images and print the JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default="resnet-18")
    parser.add_argument("--precision", type=int, choices=(16, 32), default=32)
    parser.add_argument("--workers", type=int, default=None, help="Ray Train workers (default: the run's)")
    parser.add_argument("--torch-threads", type=int, default=None, help="of a CPU training worker")
    parser.add_argument("--device", default="cpu", help="the baseline's device (cpu or cuda)")
    parser.add_argument("--no-shuffle", action="store_true", help="loader.shuffle: false (Ray Train side)")
    parser.add_argument(
        "--checkpoint-every-s", type=float, default=60.0, help="resources.training.checkpoint_every_s"
    )
    parser.add_argument(
        "--train-actors", action="store_true", help="Train's actors even for one CPU worker on one node"
    )
    parser.add_argument("--order", choices=("train-first", "baseline-first"), default="baseline-first")
    args = parser.parse_args()

    import ray

    images = _images(args.images, args.size)
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        if args.order == "baseline-first":
            baseline, train = run_baseline(args, images), run_ray_train(args, images)
        else:
            train, baseline = run_ray_train(args, images), run_baseline(args, images)
    finally:
        ray.shutdown()
    print(
        json.dumps(
            {
                "images": args.images,
                "epochs": args.epochs,
                "size": args.size,
                "model": args.model,
                "precision": args.precision,
                "train_img_s": round(train["img_s"], 2),
                "baseline_img_s": round(baseline["img_s"], 2),
                "ratio": round(train["img_s"] / baseline["img_s"], 3),
                "train": {key: round(v, 3) if isinstance(v, float) else v for key, v in train.items()},
                "baseline": {key: round(v, 3) if isinstance(v, float) else v for key, v in baseline.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
