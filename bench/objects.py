"""Pretagging and object crops: the run's pipeline against a plain single-process PyTorch loop.

    .venv/bin/python bench/objects.py [--images 300 --image-size 320 --device cpu|cuda
                                       --resources '{"pretag": {...}}']

Generates N 320x240 JPEGs with a few coloured rectangles and a detector checkpoint (seeded
random Faster R-CNN ResNet-50 FPN weights whose classifier leans to "car", so that it finds
objects: about 8 cars per image above the score threshold, between none and 100), then, in the
same process:
- `pipeline`: `lightly_ray.run` with `worker_config.pretagging` and object level on
  `lightly_pretagging` (every detection cut into a crop and embedded with the images by a
  ResNet-18 at input 64), selecting crops; its decode+pretag+embed stage time;
- `plain`: one loop that reads and decodes each file with Pillow, scales it for the detector,
  runs the same detector (same weights, same batch size), keeps the detections of the seven
  classes above the threshold, cuts each from the scaled image, and embeds the image and its
  crops with the same embedding model (batches of 128), on all cores;
- `detector_only`: the plain loop's detector calls alone (images already decoded).
Prints one JSON object on its last line: images, crops (cut by the pipeline; plain_crops: by
the loop), pipeline_img_s, plain_img_s, ratio (pipeline_img_s / plain_img_s),
detector_only_img_s. `--device` sets the plain loop's device; the pipeline uses what the Ray
cluster has (run both on a GPU machine for a GPU comparison). The pipeline does more than the
loop: it writes a prediction file per image and computes Lightly metadata of images and crops.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

SEED = 1
EMBED_BATCH = 128
CHECKPOINT = "models/detector.pt"  # in the lightly location
CAR_BIAS = 5.0  # added to the classifier's "car" logit: random weights then find objects
SCORE_THRESHOLD = 0.5


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


def _checkpoint(lightly: Path, image_size: int) -> None:
    """Seeded random detector weights whose classifier leans to "car", saved as a checkpoint."""
    import torch

    from lightly_ray.config.lightly import PretaggingConfig
    from lightly_ray.models.detector import COCO_LABELS, build_network

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        state = build_network(PretaggingConfig(weights="random", image_size=image_size)).state_dict()
    bias = state["roi_heads.box_predictor.cls_score.bias"]
    bias.zero_()
    bias[COCO_LABELS["car"]] = CAR_BIAS
    buffer = io.BytesIO()
    torch.save({"state_dict": state}, buffer)
    (lightly / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    (lightly / CHECKPOINT).write_bytes(buffer.getvalue())


def _configs(image_size: int) -> dict[str, Any]:
    return {
        "worker_config": {"pretagging": True, "object_level": {"task_name": "lightly_pretagging"}},
        "selection_config": {
            "n_samples": 10,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        "lightly_config": {
            "model": {"weights": "random"},
            "collate": {"input_size": 64},
            "seed": SEED,
            "pretagging": {
                "weights": CHECKPOINT,
                "score_threshold": SCORE_THRESHOLD,
                "image_size": image_size,
            },
        },
    }


def _plain(folder: Path, lightly: Path, configs: dict[str, Any], device: str) -> tuple[float, float, int]:
    """The plain loop's seconds for everything and for the detector calls alone, and its crops."""
    import torch

    from lightly_ray.config import load_config
    from lightly_ray.models.backbones import build_state, load_model
    from lightly_ray.models.detector import build_detector_state, load_detector
    from lightly_ray.models.weights import IMAGENET_MEAN, IMAGENET_STD
    from lightly_ray.pipeline.pretag import to_pretag

    config = load_config(configs)
    lightly_config = config.lightly_config
    settings = lightly_config.pretagging
    target = torch.device(device)
    if target.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    detector_state = build_detector_state(settings, SEED, (lightly / CHECKPOINT).read_bytes())
    embedder_state = build_state(lightly_config.model, SEED, None)
    mean = torch.tensor(IMAGENET_MEAN, device=target).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=target).view(1, 3, 1, 1)
    size, batch, side = settings.image_size, settings.batch_size, lightly_config.collate.input_size
    files = sorted(folder.iterdir())
    started = time.perf_counter()
    detector = load_detector(settings, detector_state, target)
    embedder = load_model(lightly_config.model, embedder_state, target)
    detecting, crops = 0.0, 0
    small: list[np.ndarray] = []
    pending: list[tuple[Image.Image, Any]] = []

    def embed(rows: list[np.ndarray]) -> None:
        pixels = torch.from_numpy(np.stack(rows)).to(target).permute(0, 3, 1, 2).float().div(255)
        embedder((pixels - mean) / std)

    with torch.inference_mode():
        for index, path in enumerate(files):
            with Image.open(path) as opened:
                rgb = opened.convert("RGB")
            scale = size / max(rgb.size)
            scaled = rgb.resize(
                (round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BILINEAR
            )
            tensor = torch.from_numpy(np.array(scaled)).to(target).permute(2, 0, 1).float().div(255)
            pending.append((scaled, tensor))
            small.append(np.asarray(rgb.resize((side, side), Image.Resampling.BILINEAR)))
            if len(pending) == batch or index == len(files) - 1:
                tick = time.perf_counter()
                outputs = detector([tensor for _, tensor in pending])
                detecting += time.perf_counter() - tick
                for (image, _), output in zip(pending, outputs, strict=True):
                    boxes, _, _ = to_pretag(
                        output["boxes"].float().cpu().numpy(),
                        output["labels"].cpu().numpy(),
                        output["scores"].float().cpu().numpy(),
                        image.height,
                        image.width,
                        settings.score_threshold,
                    )
                    scale_back = np.array([image.width, image.height, image.width, image.height])
                    for x1, y1, x2, y2 in (boxes * scale_back).tolist():
                        region = (math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2))
                        if region[2] <= region[0] or region[3] <= region[1]:
                            continue  # no area: the pipeline skips it too
                        crop = image.crop(region).resize((side, side), Image.Resampling.BILINEAR)
                        small.append(np.asarray(crop))
                        crops += 1
                pending = []
            while len(small) >= EMBED_BATCH:
                embed(small[:EMBED_BATCH])
                small = small[EMBED_BATCH:]
        if small:
            embed(small)
    return time.perf_counter() - started, detecting, crops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--resources",
        default="{}",
        help='the run\'s `resources` as JSON, e.g. \'{"pretag": {"max_actors": 2}}\'',
    )
    options = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import lightly_ray

    configs = _configs(options.image_size)
    with tempfile.TemporaryDirectory(prefix="objects-") as folder:
        images, lightly = Path(folder) / "images", Path(folder) / "lightly"
        images.mkdir()
        _images(images, options.images)
        _checkpoint(lightly, options.image_size)
        resources = json.loads(options.resources)
        result = lightly_ray.run(images, lightly, **configs, resources=resources, show_progress=False)
        pipeline_s = float(result.report["stageTimings"]["embed"])
        plain_s, detector_s, plain_crops = _plain(images, lightly, configs, options.device)
    count = options.images
    print(
        json.dumps(
            {
                "images": count,
                "image_size": options.image_size,
                "crops": result.report["objectLevel"]["nCrops"],
                "plain_crops": plain_crops,
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
