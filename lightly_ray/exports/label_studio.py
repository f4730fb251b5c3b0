"""Label Studio import JSON: one task per sample, the run's predictions as pre-annotations.

The format is Label Studio's documented "basic JSON" for importing tasks with predictions: a list
of tasks, each `{"id", "data": {"image": URL, "name": sample name}, "predictions": [...]}`; one
prediction per sample, `{"model_version", "score", "result": [regions]}`, with the regions of every
prediction task of the lightly location (each region's `from_name` is its task), so that an
annotator starts from all of them at once: Label Studio loads one prediction into an annotation.
`model_version` names the exported tasks (`task_a+task_b`), the same for every sample. Regions by
task type:

- classification: `choices` with the most probable category (`from_name` is the task's name);
- object detection and instance segmentation: one `rectanglelabels` region per box, in percent
  of the image's width and height (Label Studio's unit), with its score; a box is cut to the
  image, and one with no area there is left out (object level skips it too);
- semantic segmentation and keypoints are not exported (Label Studio's brush and keypoint
  formats are not the run's); `skipped` counts them.

`label_config` is the labeling configuration the tasks fit: an `Image` named `image` and one
`Choices` or `RectangleLabels` control per task, named after it, with the task's categories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from lightly_ray.formats.prediction_items import Prediction, top_category
from lightly_ray.formats.prediction_schema import TaskSchema, TaskType
from lightly_ray.formats.predictions import TaskPredictions

IMAGE_FIELD = "image"
BOX_TASKS = (TaskType.OBJECT_DETECTION, TaskType.INSTANCE_SEGMENTATION)


@dataclass
class LabelStudioExport:
    """The tasks, the labeling configuration they fit, and what could not be exported."""

    tasks: list[dict[str, Any]]
    label_config: str
    skipped: dict[str, int] = field(default_factory=dict)


def label_studio_export(
    names: Sequence[str],
    urls: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    predictions: Mapping[str, TaskPredictions],
    more_data: Sequence[Mapping[str, Any]] | None = None,
) -> LabelStudioExport:
    """Tasks for the samples, with pre-annotations from `predictions`.

    Args:
        names: The sample names.
        urls: Each sample's read URL.
        sizes: Each sample's (width, height) in pixels, to turn boxes into percent.
        predictions: By task name, the predictions read from the lightly location.
        more_data: Per sample, more fields of its task's `data` (a crop's source image and box).

    Returns:
        The export; `skipped` counts the tasks' predictions of a type Label Studio's JSON here
        does not carry, by task.
    """
    exported = {task: result for task, result in predictions.items() if _exportable(result.schema)}
    skipped = {task: len(result.predictions) for task, result in predictions.items() if task not in exported}
    tasks = []
    for index, (name, url, size) in enumerate(zip(names, urls, sizes, strict=True)):
        task: dict[str, Any] = {"id": index + 1, "data": {IMAGE_FIELD: url, "name": name}}
        if more_data is not None:
            task["data"].update(more_data[index])
        regions = [
            region
            for task_name, result in sorted(exported.items())
            for region in _regions(task_name, result.schema, result.for_sample(name), size)
        ]
        if regions:
            entry: dict[str, Any] = {"model_version": "+".join(sorted(exported)), "result": regions}
            scores = [region["score"] for region in regions if "score" in region]
            if scores:
                entry["score"] = round(sum(scores) / len(scores), 6)
            task["predictions"] = [entry]
        tasks.append(task)
    schemas = [exported[task].schema for task in sorted(exported)]
    return LabelStudioExport(tasks, label_config(schemas), skipped)


def label_config(schemas: Sequence[TaskSchema]) -> str:
    """The labeling configuration (XML) that the exported tasks fit."""
    lines = ["<View>", f'  <Image name="{IMAGE_FIELD}" value="${IMAGE_FIELD}"/>']
    for schema in schemas:
        control = "Choices" if schema.task_type == TaskType.CLASSIFICATION else "RectangleLabels"
        item = "Choice" if control == "Choices" else "Label"
        lines.append(f'  <{control} name={quoteattr(schema.task_name)} toName="{IMAGE_FIELD}">')
        lines += [f"    <{item} value={quoteattr(name)}/>" for name in schema.category_names]
        lines.append(f"  </{control}>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def _exportable(schema: TaskSchema) -> bool:
    return schema.task_type == TaskType.CLASSIFICATION or schema.task_type in BOX_TASKS


def _regions(
    task: str, schema: TaskSchema, predictions: Sequence[Prediction], size: tuple[int, int]
) -> list[dict[str, Any]]:
    if schema.task_type == TaskType.CLASSIFICATION:
        return [_choice(task, schema, prediction) for prediction in predictions[:1]]
    width, height = size
    regions = []
    for number, prediction in enumerate(predictions):
        category = schema.category(prediction.category_id)
        if prediction.bbox is None or category is None or width <= 0 or height <= 0:
            continue
        x, y, box_width, box_height = _clipped(prediction.bbox, width, height)
        if box_width <= 0 or box_height <= 0:  # no area, or outside the image (as object level skips it)
            continue
        region: dict[str, Any] = {
            "id": f"{task}-{number}",
            "from_name": task,
            "to_name": IMAGE_FIELD,
            "type": "rectanglelabels",
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "value": {
                "x": _percent(x, width),
                "y": _percent(y, height),
                "width": _percent(box_width, width),
                "height": _percent(box_height, height),
                "rotation": 0,
                "rectanglelabels": [category.name],
            },
        }
        if prediction.score is not None:
            region["score"] = round(float(prediction.score), 6)
        regions.append(region)
    return regions


def _choice(task: str, schema: TaskSchema, prediction: Prediction) -> dict[str, Any]:
    category, score = top_category(prediction, schema)
    region: dict[str, Any] = {
        "id": f"{task}-0",
        "from_name": task,
        "to_name": IMAGE_FIELD,
        "type": "choices",
        "value": {"choices": [category]},
    }
    if score is not None:
        region["score"] = round(float(score), 6)
    return region


def _clipped(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    """`(x, y, w, h)` cut to the image (as object level's crops are)."""
    x, y, box_width, box_height = box
    left, top = max(0.0, float(x)), max(0.0, float(y))
    right, bottom = min(float(width), float(x) + box_width), min(float(height), float(y) + box_height)
    return left, top, right - left, bottom - top


def _percent(value: float, total: int) -> float:
    return round(min(100.0, max(0.0, 100.0 * float(value) / total)), 4)


__all__ = ["LabelStudioExport", "label_config", "label_studio_export"]
