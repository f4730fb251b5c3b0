"""Distributions before and after selection: metadata, prediction classes and scores, strategy values.

Every block compares the input, the selected and the random set (`samples.py`): numeric values as
histograms with shared edges, categorical values as counts. All of it is numpy over columns that
selection already holds, so it costs seconds at millions of samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lightly_ray.formats.prediction_items import top_category
from lightly_ray.formats.prediction_schema import TaskType
from lightly_ray.formats.predictions import TaskPredictions
from lightly_ray.report.histograms import category_block, histogram_block, summary
from lightly_ray.report.samples import SET_NAMES, ReportSamples
from lightly_ray.selection.data import SelectionData
from lightly_ray.selection.input_values import metadata_column
from lightly_ray.selection.problem import BalanceObjective, ThresholdFilter, WeightsObjective


def metadata_distributions(samples: ReportSamples, data: SelectionData) -> dict[str, Any]:
    """report.json's `metadataDistributions`: per field, its distribution in each set.

    Computed metadata comes as `lightly.<name>` (numeric), custom metadata under its schema path.

    Returns:
        By field: `{"kind": "numeric", "summary": {set: ...}, "histogram": ...}` or
        `{"kind": "categorical", ...category counts}`.
    """
    blocks: dict[str, Any] = {}
    for name in sorted(data.lightly_metadata):  # one column at a time: each is 8 bytes a sample
        values = np.asarray(data.lightly_metadata[name], dtype=np.float64)
        blocks[f"lightly.{name}"] = _distribution(samples, True, values)
    if data.metadata is not None:
        for metadata_field in data.metadata.fields:
            path = metadata_field.path
            blocks[path] = _distribution(samples, *metadata_column(path, f"metadata {path}", data))
    return blocks


def prediction_distributions(samples: ReportSamples, data: SelectionData) -> dict[str, Any]:
    """report.json's `predictionDistributions`: per task, classes, objects per sample and scores.

    Returns:
        By task: `taskType`, `categories` (counts of predictions per category and set; for
        classification the most probable category of each sample), `objectsPerSample` (summary
        per set) and `scores` (histogram of the prediction scores, or of the highest probability
        for classification).
    """
    return {
        task: _task_distribution(samples, data.names, task_predictions)
        for task, task_predictions in sorted(data.predictions.items())
    }


def strategy_distributions(samples: ReportSamples, problem_parts: list[tuple[int, object]]) -> dict[str, Any]:
    """report.json's per-strategy value distributions (scores, weights, thresholds, balance classes).

    Args:
        samples: The pool (the problem's candidates are its rows).
        problem_parts: (strategy index, its threshold filter or objective) in config order.

    Returns:
        By strategy index (as a string): the distribution of the values it used over the sets;
        DIVERSITY strategies have none (the embedding statistics describe them).
    """
    blocks: dict[str, Any] = {}
    for index, part in problem_parts:
        if isinstance(part, ThresholdFilter):
            blocks[str(index)] = _distribution(samples, True, part.values)
        elif isinstance(part, WeightsObjective):
            blocks[str(index)] = _distribution(samples, True, part.weights)
        elif isinstance(part, BalanceObjective):
            sums = {which: part.class_vectors[samples.mask(which)].sum(axis=0) for which in SET_NAMES}
            blocks[str(index)] = {
                "kind": "classes",
                "categories": list(part.class_names),
                "counts": {which: [round(float(value), 6) for value in row] for which, row in sums.items()},
                "target": [
                    None if not np.isfinite(value) else round(float(value), 6) for value in part.target
                ],
            }
    return blocks


def _distribution(samples: ReportSamples, numeric: bool, values: np.ndarray) -> dict[str, Any]:
    sets = {which: values[samples.mask(which)] for which in SET_NAMES}
    if numeric:
        numbers = {which: np.asarray(array, dtype=np.float64) for which, array in sets.items()}
        return {
            "kind": "numeric",
            "summary": {which: summary(array) for which, array in numbers.items()},
            "histogram": histogram_block(numbers),
        }
    return {"kind": "categorical", **category_block(sets)}


def _task_distribution(samples: ReportSamples, names: Sequence[str], task: TaskPredictions) -> dict[str, Any]:
    schema = task.schema
    classification = schema.task_type == TaskType.CLASSIFICATION
    categories: list[str] = []
    owners: list[int] = []
    scores: list[float] = []
    objects = np.zeros(len(names), dtype=np.int64)
    for row, name in enumerate(names):
        predictions = task.for_sample(name)
        objects[row] = len(predictions)
        for prediction in predictions:
            category, score = top_category(prediction, schema)
            categories.append(category)
            owners.append(row)
            scores.append(float("nan") if score is None else score)
    owner_rows = np.asarray(owners, dtype=np.int64)
    category_values = np.asarray(categories, dtype=object)
    score_values = np.asarray(scores, dtype=np.float64)
    by_set = {which: samples.mask(which)[owner_rows] for which in SET_NAMES}
    return {
        "taskType": str(schema.task_type),
        "categories": category_block({which: category_values[mask] for which, mask in by_set.items()}),
        "objectsPerSample": {which: summary(objects[samples.mask(which)]) for which in SET_NAMES},
        "scores": histogram_block({which: score_values[mask] for which, mask in by_set.items()}),
        "scoreOf": "highest probability" if classification else "prediction score",
    }


__all__ = ["metadata_distributions", "prediction_distributions", "strategy_distributions"]
