"""The datapool's second run against its first: only the new inputs are decoded and embedded.

    .venv/bin/python bench/datapool.py [--images 3000 --new 0.1 --mode cluster]

A first `lightly_ray.run` with `use_datapool: true` on N generated 256 px JPEGs (ResNet-18 at
input size 64, random weights, diversity selection of 10% of the input), then `--new` x N more
images arrive and the run is repeated (10% of the grown input, the earlier picks included).
`--mode cluster` runs both on a Ray instance the benchmark starts first (as runs submitted to
a long-lived cluster); `--mode fresh` lets each run start and stop its own local Ray instance
(as `lightly-ray run` on a laptop). Prints one JSON object on its last line: images,
new_images, first_s, second_s, ratio (second / first), what the second run processed,
preselected and selected, and its stage timings.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def _images(folder: Path, start: int, count: int) -> None:
    rng = np.random.default_rng(start)
    for index in range(start, start + count):
        image = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        buffer = io.BytesIO()
        image.resize((256, 256), Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=90)
        (folder / f"img_{index:06d}.jpg").write_bytes(buffer.getvalue())


def _config(n_samples: int) -> dict[str, Any]:
    return {
        "worker_config": {"use_datapool": True},
        "selection_config": {
            "n_samples": n_samples,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        "lightly_config": {
            "model": {"name": "resnet-18", "weights": "random"},
            "collate": {"input_size": 64},
            "loader": {"batch_size": 16},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--new", type=float, default=0.1)
    parser.add_argument("--mode", choices=["cluster", "fresh"], default="cluster")
    options = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    import lightly_ray

    new = int(options.images * options.new)
    # Each run keeps 10% of the input: the budget counts the preselected samples, so the
    # second run adds about 10% of the new images.
    if options.mode == "cluster":
        ray.init(include_dashboard=False, logging_level=logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="datapool-") as folder:
            input_folder, lightly = Path(folder) / "input", Path(folder) / "lightly"
            input_folder.mkdir()
            _images(input_folder, 0, options.images)
            started = time.perf_counter()
            config = _config(options.images // 10)
            first = lightly_ray.run(input_folder, lightly, config=config, show_progress=False)
            first_s = time.perf_counter() - started
            _images(input_folder, options.images, new)
            started = time.perf_counter()
            config = _config((options.images + new) // 10)
            second = lightly_ray.run(input_folder, lightly, config=config, show_progress=False)
            second_s = time.perf_counter() - started
    finally:
        if ray.is_initialized():
            ray.shutdown()
    print(
        json.dumps(
            {
                "images": options.images,
                "new_images": new,
                "mode": options.mode,
                "first_s": round(first_s, 2),
                "second_s": round(second_s, 2),
                "ratio": round(second_s / first_s, 3),
                "first_selected": len(first.selected),
                "second_input": second.counts["nInput"],
                "second_selected": len(second.selected),
                "second_preselected": second.counts["nPreselectedDatapool"],
                "second_stages": second.report["stageTimings"],
            }
        )
    )


if __name__ == "__main__":
    main()
