"""Decode+embed throughput: the run's pipeline against plain PyTorch, on images and on videos.

    .venv/bin/python bench/ingest.py [--images 4000 --videos 4 --frames 1000 --input-size 64]
    .venv/bin/python bench/ingest.py --images 400 --videos 0 --image-px 1920 --input-size 224

Images: N generated 256 px JPEGs (`--image-px` wider: 4:3 photos of that width), ResNet-18
with random weights at `--input-size`; `--videos 0` leaves the videos out.
- `pipeline_img_s`: the run's path from the listing on (listing, units, the model's weights and
  Ray Data started while listing, decode tasks with Lightly metadata, embedding actors, rows to
  the driver) on a local Ray instance with every CPU; also `pipeline_steady_img_s` (after the
  first batch arrived) and `first_batch_s` (from the listing's start).
- `dataloader_img_s`: `torch.utils.data.DataLoader(num_workers=2, batch_size=16)` decoding with
  Pillow into the same model, in this process.
- `decode_only_img_s`, `model_only_img_s`: decoding alone (one process) and the model alone
  (batches of 16, torch's default threads); `shared_core_bound_img_s` = 1 / (1/decode + 1/model).
- The pipeline embeds in batches of `pipeline_batch` (resources.embed.batch_size): the same two
  baselines at that batch are `dataloader_same_batch_img_s` and `model_only_same_batch_img_s`.
Videos: generated H.264 clips (256x192, keyframe every 50 frames, B-frames); `pipeline_frames_s`
(the run's path, with its steady rate and first batch) against `plain_video_frames_s` (one
sequential PyAV decode per video, frames resized and fed to the same model in batches of
`pipeline_batch`).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lightly_ray.config import load_config  # noqa: E402
from lightly_ray.models.backbones import build_state, load_model  # noqa: E402
from lightly_ray.models.weights import embedding_weights  # noqa: E402
from lightly_ray.pipeline.build import build_image_pipeline  # noqa: E402
from lightly_ray.pipeline.decode import decode_image  # noqa: E402
from lightly_ray.pipeline.listing import list_images  # noqa: E402
from lightly_ray.pipeline.sizing import ClusterShape, embed_shape  # noqa: E402
from lightly_ray.pipeline.units import build_units, index_videos  # noqa: E402
from lightly_ray.pipeline.warmup import Warmup  # noqa: E402
from lightly_ray.storage import Location  # noqa: E402
from lightly_ray.video.decode import decode_all  # noqa: E402
from tests.data.videos import make_video  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _images(folder: Path, count: int, side: int) -> None:
    rng = np.random.default_rng(0)
    for index in range(count):
        base = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize(
            (side, side * 3 // 4 if side > 256 else side), Image.Resampling.BILINEAR
        )
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        (folder / f"img_{index:05d}.jpg").write_bytes(buffer.getvalue())


def _config(input_size: int, resources: dict[str, Any] | None = None) -> Any:
    return load_config(
        {
            "selection_config": {
                "n_samples": 1,
                "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
            },
            "lightly_config": {
                "model": {"name": "resnet-18", "weights": "random"},
                "collate": {"input_size": input_size},
                "loader": {"batch_size": 16},
            },
        },
        resources=resources,
    )


def _pipeline(folder: Path, config: Any) -> dict[str, float]:
    """The run's path from the listing on: weights and Ray Data start while the input is listed."""
    location = Location(str(folder), writable=False)
    model = config.lightly_config.model
    started = time.perf_counter()
    with Warmup(lambda: embedding_weights(model, 0, None, "random")) as warmup:
        listing = list_images(location).table
        units = build_units(listing, index_videos(location, listing))
        plan = build_image_pipeline(
            units,
            input_location=location,
            config=config,
            model_weights=warmup.model_weights(),
            cluster=ClusterShape.current(),
        )
        first_at, seen = None, 0
        for batch in plan.dataset.iter_batches(batch_size=None):
            seen += len(batch["name"])
            if first_at is None:
                first_at, first_rows = time.perf_counter(), seen
    elapsed = time.perf_counter() - started
    assert seen == plan.samples, (seen, plan.samples)
    steady = (seen - first_rows) / max(elapsed - (first_at - started), 1e-9) if first_at else 0.0
    return {"rate": seen / elapsed, "steady": steady, "first": (first_at or started) - started, "count": seen}


class _Files(torch.utils.data.Dataset[torch.Tensor]):
    def __init__(self, paths: list[Path], size: int) -> None:
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        with Image.open(self.paths[index]) as image:
            rgb = image.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy())


def _embed(network: Any, pixels: torch.Tensor) -> None:
    with torch.inference_mode():
        network((pixels.permute(0, 3, 1, 2).float() / 255.0 - MEAN) / STD)


def _dataloader(paths: list[Path], network: Any, size: int, batch: int = 16) -> float:
    loader = torch.utils.data.DataLoader(_Files(paths, size), batch_size=batch, num_workers=2)
    started = time.perf_counter()
    for pixels in loader:
        _embed(network, pixels)
    return len(paths) / (time.perf_counter() - started)


def _decode_only(paths: list[Path], size: int) -> float:
    started = time.perf_counter()
    for path in paths:
        decode_image(path.read_bytes(), size)
    return len(paths) / (time.perf_counter() - started)


def _model_only(network: Any, size: int, count: int, batch: int = 16) -> float:
    pixels = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8)
    started = time.perf_counter()
    for _ in range(max(1, count // batch)):
        _embed(network, pixels)
    return max(1, count // batch) * batch / (time.perf_counter() - started)


def _plain_video(paths: list[Path], network: Any, size: int, size_of_batch: int) -> float:
    started, count, batch = time.perf_counter(), 0, []
    for path in paths:
        for _, image in decode_all(str(path)):
            resized = Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)
            batch.append(np.asarray(resized, dtype=np.uint8))
            if len(batch) == size_of_batch:
                _embed(network, torch.from_numpy(np.stack(batch)))
                count, batch = count + len(batch), []
    if batch:
        _embed(network, torch.from_numpy(np.stack(batch)))
        count += len(batch)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument(
        "--image-px", type=int, default=256, help="image width (256: square; larger: 4:3, e.g. 1920x1440)"
    )
    parser.add_argument(
        "--resources",
        default=None,
        help='the run\'s resources block as JSON, e.g. {"embed": {"cpus_per_actor": 0.5}}',
    )
    options = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    config = _config(options.input_size, json.loads(options.resources) if options.resources else None)
    network = load_model(
        config.lightly_config.model, build_state(config.lightly_config.model, 0, None), torch.device("cpu")
    )
    result: dict[str, Any] = {"images": options.images}
    with tempfile.TemporaryDirectory(prefix="ingest-") as folder:
        images, clips = Path(folder) / "images", Path(folder) / "videos"
        images.mkdir()
        clips.mkdir()
        _images(images, options.images, options.image_px)
        for index in range(options.videos):
            make_video(
                clips / f"clip_{index}.mp4",
                "libx264",
                {"g": "50", "bf": "2", "preset": "ultrafast"},
                options.frames,
                256,
                192,
            )
        paths = sorted(images.glob("*.jpg"))
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")
        try:
            ray.data.DataContext.get_current().enable_progress_bars = False
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            piped = _pipeline(images, config)
            video = _pipeline(clips, config) if options.videos else None
        finally:
            ray.shutdown()
        result["pipeline_img_s"] = round(piped["rate"], 1)
        result["pipeline_steady_img_s"] = round(piped["steady"], 1)
        result["first_batch_s"] = round(piped["first"], 2)
        result["dataloader_img_s"] = round(_dataloader(paths, network, options.input_size), 1)
        batch = embed_shape(config, ClusterShape(cpus=os.cpu_count() or 1, gpus=0)).batch_size
        result["pipeline_batch"] = batch
        result["dataloader_same_batch_img_s"] = round(
            _dataloader(paths, network, options.input_size, batch), 1
        )
        result["model_only_same_batch_img_s"] = round(
            _model_only(network, options.input_size, options.images, batch), 1
        )
        decode = _decode_only(paths, options.input_size)
        model = _model_only(network, options.input_size, options.images)
        result["decode_only_img_s"] = round(decode, 1)
        result["model_only_img_s"] = round(model, 1)
        result["shared_core_bound_img_s"] = round(1 / (1 / decode + 1 / model), 1)
        result["image_px"] = options.image_px
        if video is not None:
            result["video_frames"] = int(video["count"])
            result["pipeline_frames_s"] = round(video["rate"], 1)
            result["pipeline_steady_frames_s"] = round(video["steady"], 1)
            result["video_first_batch_s"] = round(video["first"], 2)
            result["plain_video_frames_s"] = round(
                _plain_video(sorted(clips.glob("*.mp4")), network, options.input_size, batch), 1
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
