"""One prediction file: `{"file_name": "subdir/image_1.png", "predictions": [...]}`.

The keys of a prediction depend on the task type (bbox in pixels, `[x, y, w, h]`, origin top-left):

| task type | required | optional |
|---|---|---|
| classification | category_id, probabilities | |
| object-detection | category_id, bbox, score | probabilities |
| semantic-segmentation | category_id, segmentation (RLE), score | probabilities |
| instance-segmentation | category_id, bbox, segmentation (RLE), score | probabilities |
| keypoint-detection | category_id, keypoints `[x1, y1, c1, ...]`, score | bbox, probabilities |

Probabilities are in category-id order (one per category of the schema), each in [0, 1], adding up
to 1 within `PROBABILITY_SUM_TOLERANCE`. Scores and keypoint confidences are in [0, 1]. A
classification file holds at most one prediction. Any other key is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightly_ray.formats.prediction_schema import TaskSchema, TaskType
from lightly_ray.formats.problems import FieldError, child_key, expected
from lightly_ray.formats.rle import check_rle
from lightly_ray.formats.sample_files import check_file_name
from lightly_ray.formats.values import as_list, as_non_negative_int, as_number, as_numbers, as_object

PROBABILITY_SUM_TOLERANCE = 1e-3

_KEYS: dict[TaskType, tuple[tuple[str, ...], tuple[str, ...]]] = {
    TaskType.CLASSIFICATION: (("category_id", "probabilities"), ()),
    TaskType.OBJECT_DETECTION: (("category_id", "bbox", "score"), ("probabilities",)),
    TaskType.SEMANTIC_SEGMENTATION: (("category_id", "segmentation", "score"), ("probabilities",)),
    TaskType.INSTANCE_SEGMENTATION: (("category_id", "bbox", "segmentation", "score"), ("probabilities",)),
    TaskType.KEYPOINT_DETECTION: (("category_id", "keypoints", "score"), ("bbox", "probabilities")),
}


@dataclass(frozen=True, slots=True)
class Prediction:
    """One prediction; which fields are set depends on the task type (see the module docstring).

    Attributes:
        category_id: A category id of the task's schema.
        score: Confidence in [0, 1]; None for classification.
        probabilities: One probability per category, in category-id order, or None.
        bbox: `(x, y, w, h)` in pixels, origin top-left, or None.
        segmentation: The mask as run lengths (see `rle`), or None.
        keypoints: `(x1, y1, c1, x2, y2, c2, ...)`, or None.

    """

    category_id: int
    score: float | None = None
    probabilities: tuple[float, ...] | None = None
    bbox: tuple[float, float, float, float] | None = None
    segmentation: tuple[int, ...] | None = None
    keypoints: tuple[float, ...] | None = None


def top_category(prediction: Prediction, schema: TaskSchema) -> tuple[str, float | None]:
    """A prediction's category name and confidence, as summaries and exports show them.

    With a probability vector, the most probable category and its probability; else the
    prediction's category and score. An id the schema does not name shows as the number.
    """
    category_id, score = prediction.category_id, prediction.score
    if prediction.probabilities:
        probabilities = prediction.probabilities
        column = max(range(len(probabilities)), key=probabilities.__getitem__)
        category_id, score = schema.category_ids[column], probabilities[column]
    category = schema.category(category_id)
    return (category.name if category is not None else str(category_id)), score


def parse_prediction_file(
    data: Any, file_stem: str, schema: TaskSchema, image_sizes: Mapping[str, tuple[int, int]] | None = None
) -> tuple[str, list[Prediction]]:
    """Validate the parsed content of one prediction file.

    Args:
        data: The parsed JSON.
        file_stem: The sample stem the file's path implies (`subdir/image_1`).
        schema: The task's schema.
        image_sizes: (width, height) by sample name, where known; a segmentation of a sample
            with a known size must cover exactly width * height pixels.

    Returns:
        The sample name from `file_name` and its predictions.

    Raises:
        FieldError: For the first invalid value.

    """
    body = as_object(data, "", required=("file_name", "predictions"))
    name = check_file_name(body["file_name"], "file_name", file_stem)
    items = as_list(body["predictions"], "predictions", what="a list of predictions")
    image_size = image_sizes.get(name) if image_sizes is not None else None
    if schema.task_type is TaskType.CLASSIFICATION and len(items) > 1:
        raise FieldError("predictions", f"expected at most one classification prediction, got {len(items)}")
    predictions = [
        parse_prediction(item, child_key("predictions", index), schema, image_size)
        for index, item in enumerate(items)
    ]
    return name, predictions


def parse_prediction(
    item: Any, key: str, schema: TaskSchema, image_size: tuple[int, int] | None = None
) -> Prediction:
    """Validate one prediction of a task.

    Raises:
        FieldError: For the first invalid value.

    """
    required, optional = _KEYS[schema.task_type]
    body = as_object(item, key, required=required, optional=optional)
    category_id = as_non_negative_int(body["category_id"], child_key(key, "category_id"))
    category = schema.category(category_id)
    if category is None:
        known = ", ".join(str(value) for value in schema.category_ids)
        raise FieldError(
            child_key(key, "category_id"),
            f"expected a category id of the task's schema ({known}), got {category_id}",
        )
    score = (
        as_number(body["score"], child_key(key, "score"), minimum=0, maximum=1) if "score" in body else None
    )
    probabilities = (
        _probabilities(body["probabilities"], child_key(key, "probabilities"), len(schema.categories))
        if "probabilities" in body
        else None
    )
    bbox = _bbox(body["bbox"], child_key(key, "bbox")) if "bbox" in body else None
    segmentation = (
        check_rle(body["segmentation"], child_key(key, "segmentation"), image_size)
        if "segmentation" in body
        else None
    )
    keypoints = None
    if "keypoints" in body:
        names = category.keypoint_names
        keypoints = _keypoints(
            body["keypoints"], child_key(key, "keypoints"), None if names is None else len(names)
        )
    return Prediction(
        category_id=category_id,
        score=score,
        probabilities=probabilities,
        bbox=bbox,
        segmentation=segmentation,
        keypoints=keypoints,
    )


def _probabilities(value: Any, key: str, count: int) -> tuple[float, ...]:
    what = f"a list of {count} probabilities (one per category, in category-id order)"
    numbers = as_numbers(value, key, length=count, what=what)
    for index, number in enumerate(numbers):
        if not 0.0 <= number <= 1.0:
            raise FieldError(child_key(key, index), expected("a probability in [0, 1]", value[index]))
    total = sum(numbers)
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise FieldError(
            key,
            f"expected probabilities adding up to 1 (within {PROBABILITY_SUM_TOLERANCE}), got {total:.6g}",
        )
    return tuple(numbers)


def _bbox(value: Any, key: str) -> tuple[float, float, float, float]:
    x, y, width, height = as_numbers(value, key, length=4, what="a box [x, y, width, height] in pixels")
    if width < 0:
        raise FieldError(child_key(key, 2), expected("a non-negative width", value[2]))
    if height < 0:
        raise FieldError(child_key(key, 3), expected("a non-negative height", value[3]))
    return (x, y, width, height)


def _keypoints(value: Any, key: str, keypoint_count: int | None) -> tuple[float, ...]:
    if keypoint_count is not None:
        what = f"a list [x1, y1, c1, ...] of 3 * {keypoint_count} numbers (the category's keypoint_names)"
        numbers = as_numbers(value, key, length=3 * keypoint_count, what=what)
    else:
        numbers = as_numbers(value, key, what="a list [x1, y1, c1, x2, y2, c2, ...] of numbers")
        if not numbers or len(numbers) % 3 != 0:
            raise FieldError(
                key, f"expected a non-empty multiple of 3 numbers [x, y, confidence, ...], got {len(numbers)}"
            )
    for index in range(2, len(numbers), 3):
        if not 0.0 <= numbers[index] <= 1.0:
            raise FieldError(child_key(key, index), expected("a keypoint confidence in [0, 1]", value[index]))
    return tuple(numbers)
