"""PyAV against decord: decode speed and frame-exactness against a sequential PyAV decode.

    .venv/bin/python bench/video_decoders.py [--frames 1000 --width 320 --height 240 --repeat 3]

Speed: one H.264 MP4 (B-frames, a keyframe every 50 frames), decoded to RGB arrays in one
process, the backends alternating, `--repeat` times; reported as frames per second, min and
median. Exactness: for every format of tests/data/videos.py, how many frames each backend gets
right, decoding the whole video and decoding it in segments of 20 frames. The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lightly_ray.video.decode import decode_all, decode_segment  # noqa: E402
from lightly_ray.video.decord_backend import decode_segment_decord, decord_available  # noqa: E402
from lightly_ray.video.segments import Segment, index_video, plan_segments  # noqa: E402
from tests.data.videos import FORMATS, make_video  # noqa: E402


def _rate(decode: Any) -> float:
    started = time.perf_counter()
    count = sum(1 for _ in decode())
    return count / (time.perf_counter() - started)


def _exactness(folder: Path) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for key, (name, codec, options) in sorted(FORMATS.items()):
        path = str(make_video(folder / f"{key}-{name}", codec, options, 100))
        reference = [image for _, image in decode_all(path)]
        index = index_video(path)
        segments = plan_segments(index, 20)
        pyav = [frame for segment in segments for frame in decode_segment(path, index, segment)]
        row: dict[str, Any] = {
            "frames": len(reference),
            "pyavSegmentsExact": sum(np.array_equal(f.image, reference[f.index]) for f in pyav),
        }
        if decord_available():
            whole = list(decode_segment_decord(path, Segment(0, len(reference))))
            parts = [frame for segment in segments for frame in decode_segment_decord(path, segment)]
            row["decordWholeExact"] = sum(np.array_equal(f.image, reference[f.index]) for f in whole)
            row["decordSegmentsExact"] = sum(np.array_equal(f.image, reference[f.index]) for f in parts)
        table[key] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="video-bench-") as folder:
        path = str(
            make_video(
                Path(folder) / "bench.mp4",
                "libx264",
                {"g": "50", "bf": "2", "preset": "ultrafast"},
                options.frames,
                options.width,
                options.height,
            )
        )
        index = index_video(path)
        whole = Segment(0, index.frame_count)
        runs: dict[str, list[float]] = {"pyav": [], "pyavSegments": [], "decord": []}
        for _ in range(options.repeat):
            runs["pyav"].append(_rate(lambda: decode_segment(path, index, whole)))
            runs["pyavSegments"].append(
                _rate(lambda: (f for s in plan_segments(index, 100) for f in decode_segment(path, index, s)))
            )
            if decord_available():
                runs["decord"].append(_rate(lambda: decode_segment_decord(path, whole)))
        speed = {
            name: {"minFps": round(min(rates), 1), "medianFps": round(statistics.median(rates), 1)}
            for name, rates in runs.items()
            if rates
        }
        exactness = _exactness(Path(folder))
    print(
        json.dumps(
            {
                "frames": options.frames,
                "size": [options.width, options.height],
                "speed": speed,
                "exactness": exactness,
            }
        )
    )


if __name__ == "__main__":
    main()
