"""The classes and schema of task `lightly_pretagging` (torch-free, for checks before any work)."""

from __future__ import annotations

from lightly_ray.config.run_config import PRETAGGING_TASK
from lightly_ray.formats.prediction_schema import Category, TaskSchema, TaskType

PRETAG_CLASSES = ("bicycle", "bus", "car", "motorcycle", "person", "train", "truck")
BUILT_IN_WEIGHTS = ("coco", "random")


def pretag_schema() -> TaskSchema:
    """The schema of task `lightly_pretagging`: object detection, the seven classes."""
    categories = tuple(Category(id=index, name=name) for index, name in enumerate(PRETAG_CLASSES))
    return TaskSchema(task_name=PRETAGGING_TASK, task_type=TaskType.OBJECT_DETECTION, categories=categories)


__all__ = ["BUILT_IN_WEIGHTS", "PRETAG_CLASSES", "pretag_schema"]
