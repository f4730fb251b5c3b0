"""`lightly-ray export`: a dataset's tag as read URLs, Label Studio tasks, or an embeddings CSV.

- `urls`: CSV `filename,url`: each sample's name and a URL that reads its picture without other
  credentials (presigned on S3, signed on GCS, a read-only SAS on Azure, valid for `--expires`;
  the absolute path on a local disk). An image's picture is its input file (the input of the run
  that selected it); a video frame's is its image in `.lightly/frames/`.
- `label-studio`: Label Studio's import JSON (tasks with those URLs, and the prediction tasks
  of the lightly location as pre-annotations; a crops dataset's crops, their object's category
  as a classification), with the labeling configuration beside it.
- `embeddings`: the embeddings CSV (`filenames,embedding_0,...,embedding_{d-1},labels`) that
  `worker_config.embeddings` reads.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from lightly_ray.config.run_config import PRETAGGING_TASK
from lightly_ray.errors import UsageError
from lightly_ray.exports.label_studio import label_studio_export
from lightly_ray.exports.tag_samples import TagSamples, load_tag_samples, run_worker_config
from lightly_ray.formats.embeddings_csv import embeddings_csv_bytes
from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.prediction_schema import TaskSchema, TaskType, read_task_names, read_task_schema
from lightly_ray.formats.predictions import TaskPredictions, read_task_predictions
from lightly_ray.formats.pretag_predictions import read_pretag_files
from lightly_ray.formats.pretag_schema import pretag_schema
from lightly_ray.storage import Location

KINDS = ("urls", "label-studio", "embeddings")
MAX_EXPIRES_S = 7 * 24 * 3600  # S3 SigV4 and GCS V4 signatures last at most 7 days
DEFAULT_EXPIRES = "24h"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class Export:
    """What an export produced.

    Attributes:
        content: The export itself.
        companions: Files that go beside it, by suffix (the Label Studio labeling config).
        message: One line for the terminal: what was exported.
    """

    content: bytes
    companions: dict[str, bytes] = field(default_factory=dict)
    message: str = ""


def parse_expires(text: str) -> int:
    """Seconds from `3600`, `90m`, `24h` or `7d`.

    Raises:
        UsageError: For another form, or more than 7 days.
    """
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", str(text))
    if not match:
        raise UsageError(f"--expires '{text}': give seconds or a number with s, m, h or d (e.g. 24h, 7d)")
    seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not 1 <= seconds <= MAX_EXPIRES_S:
        raise UsageError(f"--expires '{text}': signed URLs last between 1 s and 7 days (7d)")
    return seconds


def export_tag(lightly_url: str, dataset: str, tag: str, kind: str, *, expires_s: int) -> Export:
    """Export one tag of a dataset in the lightly location.

    Args:
        lightly_url: The lightly location (read-only here).
        dataset: The dataset's name.
        tag: The tag (`initial-tag` holds every sample of the dataset).
        kind: `urls`, `label-studio` or `embeddings`.
        expires_s: How long signed URLs stay valid.

    Raises:
        UsageError: For an unknown kind, dataset or tag.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown export '{kind}': use one of {', '.join(KINDS)}")
    lightly = Location(lightly_url, writable=False)
    samples = load_tag_samples(lightly, dataset, tag)
    count = len(samples.names)
    what = f"{count} sample{'' if count == 1 else 's'} of tag '{tag}' of dataset '{dataset}'"
    if kind == "embeddings":
        content = embeddings_csv_bytes(samples.names, samples.embeddings())
        return Export(content, message=f"exported the embeddings of {what}")
    urls = read_urls(samples, expires_s)
    if kind == "urls":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["filename", "url"])
        writer.writerows(zip(samples.names, urls, strict=True))
        return Export(buffer.getvalue().encode("utf-8"), message=f"exported read URLs of {what}")
    crops = _crop_predictions(lightly, samples)
    predictions = crops if crops is not None else _predictions(lightly, samples.names, samples.sizes())
    more = _crop_sources(samples) if crops is not None else None
    export = label_studio_export(samples.names, urls, samples.sizes(), predictions, more)
    annotated = sum(1 for task in export.tasks if "predictions" in task)
    message = f"exported {what} as Label Studio tasks, {annotated} with pre-annotations"
    if export.skipped:
        message += "; not exported (no Label Studio region of that kind): " + ", ".join(
            f"{task} ({count} samples)" for task, count in sorted(export.skipped.items())
        )
    return Export(
        (json.dumps(export.tasks, indent=1) + "\n").encode("utf-8"),
        {".label_config.xml": export.label_config.encode("utf-8")},
        message,
    )


def read_urls(samples: TagSamples, expires_s: int) -> list[str]:
    """A read URL for each sample's picture (see the module docstring)."""
    return [source.location.read_url(source.path, expires_s) for source in samples.sources]


def _predictions(
    lightly: Location, names: list[str], sizes: list[tuple[int, int]]
) -> dict[str, TaskPredictions]:
    """Every task's predictions of the samples, the detector's (`lightly_pretagging`) included."""
    tasks = [task for task in read_task_names(lightly) if task != PRETAGGING_TASK]
    predictions = {task: read_task_predictions(lightly, task, names) for task in tasks}
    detected = read_pretag_files(lightly, names, sizes)
    if detected is not None:
        predictions[PRETAGGING_TASK] = detected
    return predictions


def _crop_sources(samples: TagSamples) -> list[dict[str, Any]]:
    """Per crop, its image (`source`) and its box there in pixels (`box`: x1, y1, x2, y2)."""
    sources, boxes = (samples.rows.column(key).to_pylist() for key in ("source", "box"))
    return [{"source": source, "box": box} for source, box in zip(sources, boxes, strict=True)]


def _crop_predictions(lightly: Location, samples: TagSamples) -> dict[str, TaskPredictions] | None:
    """A crops dataset's pre-annotations: each crop's own box, its category as a classification.

    The task is the object-level task of the run that added the crop (its config.json); its
    categories are that task's. None for a dataset of images and frames.
    """
    columns = samples.rows.column_names
    if "category_id" not in columns:
        return None
    tasks: dict[str, str | None] = {}
    predictions: dict[str, TaskPredictions] = {}
    rows = zip(
        samples.names,
        *(samples.rows.column(key).to_pylist() for key in ("run_id", "category_id", "score")),
        strict=True,
    )
    for name, run_id, category_id, score in rows:
        if run_id not in tasks:
            worker = run_worker_config(lightly, run_id) or {}
            tasks[run_id] = (worker.get("object_level") or {}).get("task_name")
        task = tasks[run_id]
        if task is None or category_id is None:  # no config.json, or not a crop: no category to give
            continue
        if task not in predictions:
            detected = pretag_schema() if task == PRETAGGING_TASK else read_task_schema(lightly, task)
            predictions[task] = TaskPredictions(
                TaskSchema(task, TaskType.CLASSIFICATION, detected.categories)
            )
        predictions[task].predictions[name] = [Prediction(category_id=int(category_id), score=float(score))]
    return predictions


__all__ = ["DEFAULT_EXPIRES", "KINDS", "Export", "export_tag", "parse_expires", "read_urls"]
