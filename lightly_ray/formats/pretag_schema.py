"""Task `lightly_pretagging`: its classes, schema, files and columns.

Torch-free, so that the checks before any work and the driver's reading of the detections
need no model code (`pipeline.pretag` runs the detector).
"""

from __future__ import annotations

from lightly_ray.config.run_config import PRETAGGING_TASK
from lightly_ray.formats.prediction_schema import Category, TaskSchema, TaskType
from lightly_ray.formats.sample_files import stem

PRETAG_CLASSES = ("bicycle", "bus", "car", "motorcycle", "person", "train", "truck")
BUILT_IN_WEIGHTS = ("coco", "random")
PRETAG_FOLDER = ".lightly/predictions/lightly_pretagging"
PRETAG_DEBUG_FOLDER = "pretagging_debug"  # in the run folder
# The detector actors' columns: kept detections per row (-1: not detected), then up to 100 boxes,
# class indices into PRETAG_CLASSES and scores per row.
PRETAG_COUNT, PRETAG_BOXES, PRETAG_LABELS, PRETAG_SCORES = (
    "pretag_count",
    "pretag_boxes",
    "pretag_labels",
    "pretag_scores",
)
PRETAG_COLUMNS = (PRETAG_COUNT, PRETAG_BOXES, PRETAG_LABELS, PRETAG_SCORES)
DECIMALS = 6  # of boxes and scores, in the files and in the columns alike


def pretag_schema() -> TaskSchema:
    """The schema of task `lightly_pretagging`: object detection, the seven classes."""
    categories = tuple(Category(id=index, name=name) for index, name in enumerate(PRETAG_CLASSES))
    return TaskSchema(task_name=PRETAGGING_TASK, task_type=TaskType.OBJECT_DETECTION, categories=categories)


def prediction_path(name: str) -> str:
    """Where the prediction file of a sample goes, relative to the lightly location."""
    return f"{PRETAG_FOLDER}/{stem(name)}.json"


__all__ = [
    "BUILT_IN_WEIGHTS",
    "DECIMALS",
    "PRETAG_BOXES",
    "PRETAG_CLASSES",
    "PRETAG_COLUMNS",
    "PRETAG_COUNT",
    "PRETAG_DEBUG_FOLDER",
    "PRETAG_FOLDER",
    "PRETAG_LABELS",
    "PRETAG_SCORES",
    "pretag_schema",
    "prediction_path",
]
