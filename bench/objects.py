"""Pretagging throughput: the run's pipeline against a plain single-process PyTorch loop.

    .venv/bin/python bench/objects.py [--images 100 --image-size 320 --device cpu|cuda]

Generates N 320x240 JPEGs with a few coloured rectangles, then, in the same process:
- `pipeline`: `lightly_ray.run` with `worker_config.pretagging` (Faster R-CNN ResNet-50 FPN,
  random weights) and a ResNet-18 embedding at input 64: its decode+pretag+embed stage time;
- `plain`: one loop that reads and decodes each file with Pillow, scales it for the detector,
  runs the same detector (same weights, same batch size) and embeds the image with the same
  embedding model (batches of 128), on all cores;
- `detector_only`: the plain loop's detector calls alone (images already decoded).
Prints one JSON object on its last line: images, pipeline_img_s, plain_img_s, ratio
(pipeline_img_s / plain_img_s), detector_only_img_s. `--device` sets the plain loop's device;
the pipeline uses what the Ray cluster has (run both on a GPU machine for a GPU comparison).
With random weights the detector keeps few boxes, so writing the files costs little here.
Object crops are not yet part of either side.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

SEED = 1
EMBED_BATCH = 128


def _images(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for index in range(count):
        image = Image.new("RGB", (320, 240), tuple(int(value) for value in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y = int(rng.integers(0, 260)), int(rng.integers(0, 180))
            colour = tuple(int(value) for value in rng.integers(0, 256, 3))
            draw.rectangle((x, y, x + int(rng.integers(20, 60)), y + int(rng.integers(20, 60))), fill=colour)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        (folder / f"img_{index:05d}.jpg").write_bytes(buffer.getvalue())


def _configs(image_size: int) -> dict[str, Any]:
    return {
        "worker_config": {"pretagging": True},
        "selection_config": {
            "n_samples": 10,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        "lightly_config": {
            "model": {"weights": "random"},
            "collate": {"input_size": 64},
            "seed": SEED,
            "pretagging": {"weights": "random", "score_threshold": 0.5, "image_size": image_size},
        },
    }


def _plain(folder: Path, configs: dict[str, Any], device: str) -> tuple[float, float]:
    """The plain loop's seconds for everything, and for the detector calls alone."""
    import torch

    from lightly_ray.config import load_config
    from lightly_ray.models.backbones import IMAGENET_MEAN, IMAGENET_STD, build_state, load_model
    from lightly_ray.models.detector import build_detector_state, load_detector

    config = load_config(configs)
    lightly = config.lightly_config
    target = torch.device(device)
    if target.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    detector = load_detector(lightly.pretagging, build_detector_state(lightly.pretagging, SEED), target)
    embedder = load_model(lightly.model, build_state(lightly.model, SEED, None), target)
    mean = torch.tensor(IMAGENET_MEAN, device=target).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=target).view(1, 3, 1, 1)
    size, batch = lightly.pretagging.image_size, lightly.pretagging.batch_size
    files = sorted(folder.iterdir())
    started = time.perf_counter()
    detecting = 0.0
    small: list[np.ndarray] = []
    pending: list[Any] = []
    with torch.inference_mode():
        for index, path in enumerate(files):
            with Image.open(path) as opened:
                rgb = opened.convert("RGB")
            scale = size / max(rgb.size)
            shape = (round(rgb.width * scale), round(rgb.height * scale))
            scaled = rgb.resize(shape, Image.Resampling.BILINEAR)
            pending.append(torch.from_numpy(np.asarray(scaled)).to(target).permute(2, 0, 1).float().div(255))
            small.append(np.asarray(rgb.resize((64, 64), Image.Resampling.BILINEAR)))
            if len(pending) == batch or index == len(files) - 1:
                tick = time.perf_counter()
                detector(pending)
                detecting += time.perf_counter() - tick
                pending = []
            if len(small) == EMBED_BATCH or index == len(files) - 1:
                pixels = torch.from_numpy(np.stack(small)).to(target).permute(0, 3, 1, 2).float().div(255)
                embedder((pixels - mean) / std)
                small = []
    return time.perf_counter() - started, detecting


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    options = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import lightly_ray

    configs = _configs(options.image_size)
    with tempfile.TemporaryDirectory(prefix="objects-") as folder:
        images = Path(folder) / "images"
        images.mkdir()
        _images(images, options.images)
        result = lightly_ray.run(images, Path(folder) / "lightly", **configs, show_progress=False)
        pipeline_s = float(result.report["stageTimings"]["embed"])
        plain_s, detector_s = _plain(images, configs, options.device)
    count = options.images
    print(
        json.dumps(
            {
                "images": count,
                "image_size": options.image_size,
                "pipeline_s": round(pipeline_s, 2),
                "plain_s": round(plain_s, 2),
                "pipeline_img_s": round(count / pipeline_s, 2),
                "plain_img_s": round(count / plain_s, 2),
                "ratio": round(plain_s / pipeline_s, 3),
                "detector_only_img_s": round(count / detector_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
