"""What Ray Train itself costs a training: its start and end, and its steady epochs.

    PYTHONPATH=. .venv/bin/python bench/ray_train_overhead.py [--images 512 --epochs 4 --pairs 2]

(PYTHONPATH: the Ray Train worker imports `bench.training` too.)

Two measurements, on a local Ray instance with this machine's CPUs:
- `start`: `TorchTrainer.fit()` of a function that reads one batch of a materialized dataset
  of 1024 64-px images and returns; seconds from the call until the function starts, until it
  has its first batch, and until fit() returns. With the dataset split between the workers
  (Ray Train's default, a coordinator actor) and without (what one worker uses,
  `training/trainer.py`).
- `steady`: the plain loop of `bench/training.py` (same network, optimizer, augmentation),
  run in this process and inside a one-worker `TorchTrainer` on the same images held in
  memory (no Ray Data), alternately, `--pairs` times; each side's img/s over the epochs after
  the first.
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _first_batch(config: dict[str, Any]) -> None:
    import ray.train

    config["queue"].put(("function", time.time()))
    shard = ray.train.get_dataset_shard("train")
    for _ in shard.iter_batches(batch_size=64, batch_format="numpy"):
        config["queue"].put(("first_batch", time.time()))
        break


def _plain_loop(config: dict[str, Any]) -> None:
    import ray

    from bench.training import run_baseline

    images = ray.get(config["images"][0])
    config["queue"].put(("steady", run_baseline(config["args"], images)["steady_img_s"]))


def _fit(function: Any, config: dict[str, Any], **options: Any) -> tuple[float, dict[str, float]]:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Queue

    queue = Queue(actor_options={"num_cpus": 0})
    with tempfile.TemporaryDirectory() as storage:
        began = time.time()
        TorchTrainer(
            function,
            train_loop_config={**config, "queue": queue},
            scaling_config=ScalingConfig(num_workers=1),
            run_config=RunConfig(name="overhead", storage_path=storage),
            **options,
        ).fit()
        ended = time.time()
    events: dict[str, float] = {}
    while not queue.empty():
        key, value = queue.get()
        events[key] = value
    queue.shutdown()
    return ended - began, {key: value - began if key != "steady" else value for key, value in events.items()}


def main() -> None:
    """Measure both and print the JSON line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=2)
    options = parser.parse_args()
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25")  # as a run sets it
    import ray
    from ray.train import DataConfig

    from bench.training import _images, run_baseline

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        blocks = [ray.put(np.zeros((128, 64, 64, 3), np.uint8)) for _ in range(8)]
        rows = ray.data.from_numpy_refs(blocks).materialize()
        start: dict[str, Any] = {}
        for split in (True, False):
            data_config = DataConfig(datasets_to_split="all" if split else [])
            seconds, events = _fit(_first_batch, {}, datasets={"train": rows}, dataset_config=data_config)
            start["split" if split else "one_reader"] = {
                "function_s": round(events["function"], 2),
                "first_batch_s": round(events["first_batch"], 2),
                "fit_s": round(seconds, 2),
            }
        args = argparse.Namespace(
            images=options.images,
            epochs=options.epochs,
            size=options.size,
            batch_size=64,
            model="resnet-18",
            precision=32,
            device="cpu",
        )
        images = _images(options.images, options.size)
        here, in_train = [], []
        for _ in range(options.pairs):
            here.append(run_baseline(args, images)["steady_img_s"])
            _, events = _fit(_plain_loop, {"args": args, "images": [ray.put(images)]})
            in_train.append(events["steady"])
    finally:
        ray.shutdown()
    print(
        json.dumps(
            {
                "start": start,
                "steady_img_s": {
                    "this_process": [round(value, 1) for value in here],
                    "ray_train_worker": [round(value, 1) for value in in_train],
                    "ratios": [round(b / a, 3) for a, b in zip(here, in_train, strict=True)],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
