from __future__ import annotations

from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.prediction_schema import Category, TaskSchema, TaskType
from lightly_ray.formats.predictions import TaskPredictions


def make_task(
    name: str,
    task_type: TaskType,
    categories: list[str],
    predictions: dict[str, list[Prediction]],
) -> TaskPredictions:
    """A task with categories numbered 0.. in the given order."""
    schema = TaskSchema(
        task_name=name,
        task_type=task_type,
        categories=tuple(Category(id=index, name=category) for index, category in enumerate(categories)),
    )
    return TaskPredictions(schema=schema, predictions=predictions, n_files=len(predictions))
