"""A whole run on generated JPEGs through the public `lightly_ray.run`, to compare versions.

    PYTHONPATH=<checkout> .venv/bin/python bench/run_images.py [--images 1500] [--pretagging]

Only the public API is used, so an older checkout runs it too: alternate `PYTHONPATH` between
a worktree of the baseline commit and this one. Prints one JSON object: the source that ran, the
decode+embed stage (`embed_s`), the whole call (`run_s`), and the driver process's resident
memory when the call began and at its peak during it (`driver_start_rss_mb`,
`driver_peak_rss_mb`: /proc/self/statm every 2 ms, shared pages of the object store included).
With `--pretagging` the run detects objects first (random detector weights, images of 256 px).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rss_peak import RssPeak

# Random detector weights (no download) at the generated images' own size.
DETECTOR = {"weights": "random", "image_size": 256}


def _images(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for index in range(count):
        image = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        buffer = io.BytesIO()
        image.resize((256, 256), Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=90)
        (folder / f"img_{index:05d}.jpg").write_bytes(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--pretagging", action="store_true", help="detect objects first (random weights)")
    options = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import lightly_ray

    with tempfile.TemporaryDirectory(prefix="run-images-") as folder:
        images = Path(folder) / "images"
        images.mkdir()
        _images(images, options.images)
        started = time.perf_counter()
        with RssPeak() as driver:
            result = lightly_ray.run(
                images,
                Path(folder) / "lightly",
                worker_config={"pretagging": options.pretagging},
                selection_config={
                    "n_samples": 10,
                    "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
                },
                lightly_config={
                    "model": {"weights": "random"},
                    "collate": {"input_size": 64},
                    "loader": {"batch_size": 16},
                    **({"pretagging": DETECTOR} if options.pretagging else {}),
                },
                show_progress=False,
            )
        elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "source": str(Path(lightly_ray.__file__).parent.parent),
                "images": options.images,
                "embed_s": result.report["stageTimings"]["embed"],
                "run_s": round(elapsed, 2),
                "driver_start_rss_mb": round(driver.base / 2**20, 1),
                "driver_peak_rss_mb": round(driver.peak / 2**20, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
