"""The report's build time and size at 10k, 100k and 1M samples (synthetic, no Ray).

    .venv/bin/python bench/report.py [--samples 10000 100000 1000000 --dim 128]

For each size: a pool of clustered float32 embeddings, 10% of it picked, six computed metadata
columns, one categorical custom metadata field and one classification task with a prediction
for every sample, a THRESHOLD and a BALANCE strategy. Runs the analysis that a run does after
selection (`report.analysis.analyse_selection`), makes a JPEG for every picture the page wants
(as the thumbnails a run reads), draws report.html and prints one JSON line per size: seconds
per block, the page's build time, report.json's and report.html's bytes, and the peak RSS.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import time

import numpy as np
from PIL import Image

from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.prediction_schema import Category, TaskSchema, TaskType
from lightly_ray.formats.predictions import TaskPredictions
from lightly_ray.report.analysis import analyse_selection
from lightly_ray.report.html import render_report
from lightly_ray.report.run_report import wanted_pictures
from lightly_ray.report.samples import ReportSamples
from lightly_ray.selection.data import SelectionData
from lightly_ray.selection.problem import BalanceObjective, ThresholdFilter


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)).resize((112, 112))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def measure(count: int, dim: int) -> dict[str, object]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(100, dim)).astype(np.float32)
    embeddings = centres[rng.integers(0, 100, count)] + 0.3 * rng.normal(size=(count, dim)).astype(np.float32)
    names = [f"folder_{index // 1000:04d}/img_{index:07d}.jpg" for index in range(count)]
    picked = rng.choice(count, size=count // 10, replace=False)
    lightly = {
        key: rng.random(count) * 100
        for key in ("sharpness", "snr", "meanRed", "meanGreen", "meanBlue", "contrast")
    }
    schema = TaskSchema(
        "weather", TaskType.CLASSIFICATION, (Category(0, "sun"), Category(1, "rain"), Category(2, "fog"))
    )
    probabilities = rng.dirichlet(np.ones(3), size=count)
    task = TaskPredictions(
        schema,
        {
            name: [Prediction(int(np.argmax(row)), probabilities=tuple(float(value) for value in row))]
            for name, row in zip(names, probabilities, strict=True)
        },
    )
    samples = ReportSamples(
        names=names,
        embeddings=embeddings,
        picked=picked,
        preselected=np.zeros(0, dtype=np.int64),
        videos=[None] * count,
        frame_indices=np.full(count, -1),
    )
    data = SelectionData(
        names=names, embeddings=embeddings, lightly_metadata=lightly, predictions={"weather": task}
    )
    parts: list[tuple[int, object]] = [
        (1, ThresholdFilter("strategies[1]", lightly["sharpness"], 10.0, "BIGGER")),
        (
            2,
            BalanceObjective(
                "strategies[2]", ["sun", "rain", "fog"], probabilities, np.array([0.3, 0.3, 0.4])
            ),
        ),
    ]
    started = time.perf_counter()
    blocks = analyse_selection(samples, data, parts, {})
    analysis_s = time.perf_counter() - started
    report = {"run": {"id": "bench", "durationSeconds": 0.0}, "stageTimings": {"embed": 1.0}, **blocks}
    wanted = wanted_pictures(report, samples)
    thumbnails = {item.name: _jpeg(index) for index, item in enumerate(wanted)}
    started = time.perf_counter()
    page = render_report(report, thumbnails)
    html_s = time.perf_counter() - started
    return {
        "samples": count,
        "dim": dim,
        "analysis_s": round(analysis_s, 3),
        "blocks_s": blocks["analysisSeconds"],
        "html_s": round(html_s, 3),
        "report_json_bytes": len(json.dumps(report)),
        "report_html_bytes": len(page.encode("utf-8")),
        "pictures": len(thumbnails),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=128)
    args = parser.parse_args()
    for count in args.samples:
        print(json.dumps(measure(count, args.dim)), flush=True)


if __name__ == "__main__":
    main()
