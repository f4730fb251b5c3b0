"""Per-sample values computed from a task's predictions: active-learning scores and class vectors.

Scores (the `SCORES` input; high means worth labeling), by task type:

| task type | scores |
|---|---|
| classification | uncertainty_least_confidence, uncertainty_margin, uncertainty_entropy |
| object-detection | the three above, objectness_least_confidence, object_frequency |
| semantic-segmentation, instance-segmentation | the three uncertainty scores |
| keypoint-detection | mean_uncertainty |

Uncertainty of one probability vector p with C entries: least confidence `(1 - max p) / (1 - 1/C)`,
margin `1 - (p_1 - p_2)` (the two largest; p_2 = 0 when C = 1), entropy `-sum p ln p / ln C`
(0 ln 0 = 0). With C = 1 there is nothing to be unsure about: least confidence and entropy are 0.
A prediction without probabilities uses its score as the vector `[s, 1 - s]` (C = 2).

Per sample: classification and object detection take the **max** over predictions, segmentation
the **mean** over masks; a sample without predictions scores 0 (nothing predicted, nothing to
be unsure about). `objectness_least_confidence` is `1 - mean(score)` over the objects, and 0 without
objects (same reason). `object_frequency` is `sum over present classes (1 + 0.25 * (n_class - 1))`,
min-max mapped across the given samples to [0.9, 1]; when every sample has the same value, all
get 1.0 (numpy's `interp` on a degenerate range). `mean_uncertainty` is `1 - mean over instances
of the mean keypoint confidence`, 0 without instances.

Everything is computed from one flattening pass over the predictions (a Python loop over the
prediction objects, unavoidable as they are Python objects) followed by numpy reductions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lightly_ray.errors import LightlyRayError
from lightly_ray.formats.prediction_schema import TaskType
from lightly_ray.formats.predictions import TaskPredictions

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

UNCERTAINTY_SCORES = ("uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy")
SCORES_BY_TASK_TYPE: dict[TaskType, tuple[str, ...]] = {
    TaskType.CLASSIFICATION: UNCERTAINTY_SCORES,
    TaskType.OBJECT_DETECTION: (*UNCERTAINTY_SCORES, "objectness_least_confidence", "object_frequency"),
    TaskType.SEMANTIC_SEGMENTATION: UNCERTAINTY_SCORES,
    TaskType.INSTANCE_SEGMENTATION: UNCERTAINTY_SCORES,
    TaskType.KEYPOINT_DETECTION: ("mean_uncertainty",),
}
FREQUENCY_PENALTY = 0.25
FREQUENCY_MIN_SCORE = 0.9


class UnknownScoreError(LightlyRayError, ValueError):
    """A score name that the task's type does not offer.

    Attributes:
        score: The unknown name.
        task_type: The task's type.
        available: The scores the task type offers.
    """

    def __init__(self, score: str, task_type: TaskType) -> None:
        self.score = score
        self.task_type = task_type
        self.available = available_scores(task_type)
        super().__init__(
            f"unknown score '{score}' for task type {task_type.value}; available: {', '.join(self.available)}"
        )


def available_scores(task_type: TaskType) -> tuple[str, ...]:
    """The score names a task type offers, in documentation order."""
    return SCORES_BY_TASK_TYPE[task_type]


def compute_score(predictions: TaskPredictions, sample_names: Sequence[str], score: str) -> FloatArray:
    """One active-learning score per sample.

    Args:
        predictions: A task's predictions.
        sample_names: The samples, in output order; samples without predictions score 0.
        score: A name from `available_scores(predictions.schema.task_type)`.

    Returns:
        Array of shape (n_samples,), float64, in [0, 1].

    Raises:
        UnknownScoreError: When the task type has no such score.
    """
    task_type = predictions.schema.task_type
    if score not in available_scores(task_type):
        raise UnknownScoreError(score, task_type)
    objects = flatten_predictions(predictions, sample_names)
    n_samples = len(sample_names)
    if score in UNCERTAINTY_SCORES:
        per_object = _object_uncertainty(objects, score)
        if task_type in (TaskType.SEMANTIC_SEGMENTATION, TaskType.INSTANCE_SEGMENTATION):
            return _mean_per_sample(objects.sample_index, per_object, n_samples)
        result = np.zeros(n_samples, dtype=np.float64)
        np.maximum.at(result, objects.sample_index, per_object)
        return result
    if score == "objectness_least_confidence":
        mean_score = _mean_per_sample(objects.sample_index, objects.score, n_samples)
        counts = np.bincount(objects.sample_index, minlength=n_samples)
        return np.where(counts > 0, 1.0 - mean_score, 0.0)
    if score == "object_frequency":
        return _object_frequency(objects, n_samples)
    mean_confidence = _mean_per_sample(objects.sample_index, objects.keypoint_confidence, n_samples)
    counts = np.bincount(objects.sample_index, minlength=n_samples)
    return np.where(counts > 0, 1.0 - mean_confidence, 0.0)


def class_distribution(predictions: TaskPredictions, sample_names: Sequence[str]) -> FloatArray:
    """The summed class vectors of each sample's predictions (CLASS_DISTRIBUTION).

    A prediction contributes its probability vector, or the one-hot vector of its category when
    it has no probabilities. Classification samples thus get their probability vector; detection
    samples the sum over their objects. Samples without predictions get a zero row.

    Returns:
        Array of shape (n_samples, n_categories), float64; columns in category-id order
        (`predictions.schema.category_names`).
    """
    objects = flatten_predictions(predictions, sample_names)
    n_classes = len(predictions.schema.categories)
    vectors = np.zeros((len(sample_names), n_classes), dtype=np.float64)
    with_probabilities = objects.has_probabilities
    np.add.at(vectors, objects.sample_index[with_probabilities], objects.probabilities[with_probabilities])
    one_hot = ~with_probabilities
    np.add.at(vectors, (objects.sample_index[one_hot], objects.category_column[one_hot]), 1.0)
    return vectors


def category_count(
    predictions: TaskPredictions, sample_names: Sequence[str], columns: Sequence[int] | None = None
) -> FloatArray:
    """Number of predictions per sample (CATEGORY_COUNT), optionally of some categories only.

    Args:
        predictions: A task's predictions.
        sample_names: The samples, in output order.
        columns: Positions of the counted categories in `schema.categories`; None counts all.

    Returns:
        Array of shape (n_samples,), float64.
    """
    objects = flatten_predictions(predictions, sample_names)
    keep = np.ones(len(objects.sample_index), dtype=bool)
    if columns is not None:
        keep = np.isin(objects.category_column, np.asarray(list(columns), dtype=np.int64))
    counts = np.bincount(objects.sample_index[keep], minlength=len(sample_names))
    return counts.astype(np.float64)


@dataclass(frozen=True)
class FlatPredictions:
    """All predictions of the given samples, one row per prediction.

    Attributes:
        sample_index: Array of shape (n_predictions,), int64: position of the sample.
        category_column: Array of shape (n_predictions,), int64: position of the category in
            `schema.categories`.
        score: Array of shape (n_predictions,), float64; NaN where the prediction has none.
        probabilities: Array of shape (n_predictions, n_categories), float64; NaN rows where the
            prediction has none.
        has_probabilities: Array of shape (n_predictions,), bool.
        keypoint_confidence: Array of shape (n_predictions,), float64: mean keypoint confidence,
            NaN without keypoints.
    """

    sample_index: IntArray
    category_column: IntArray
    score: FloatArray
    probabilities: FloatArray
    has_probabilities: npt.NDArray[np.bool_]
    keypoint_confidence: FloatArray


def flatten_predictions(predictions: TaskPredictions, sample_names: Sequence[str]) -> FlatPredictions:
    """Flatten the predictions of the given samples into arrays (see `FlatPredictions`)."""
    column_of = predictions.schema.column_of
    n_classes = len(predictions.schema.categories)
    nan = float("nan")
    nan_row = (nan,) * n_classes
    sample_index: list[int] = []
    category_column: list[int] = []
    scores: list[float] = []
    rows: list[tuple[float, ...]] = []
    has_probabilities: list[bool] = []
    keypoint_confidence: list[float] = []
    by_name = predictions.predictions
    for index, name in enumerate(sample_names):
        for prediction in by_name.get(name, ()):
            sample_index.append(index)
            category_column.append(column_of[prediction.category_id])
            scores.append(nan if prediction.score is None else prediction.score)
            probabilities = prediction.probabilities
            has_probabilities.append(probabilities is not None)
            rows.append(nan_row if probabilities is None else probabilities)
            keypoints = prediction.keypoints
            confidences = keypoints[2::3] if keypoints else ()
            keypoint_confidence.append(sum(confidences) / len(confidences) if confidences else nan)
    return FlatPredictions(
        sample_index=np.asarray(sample_index, dtype=np.int64),
        category_column=np.asarray(category_column, dtype=np.int64),
        score=np.asarray(scores, dtype=np.float64),
        probabilities=np.asarray(rows, dtype=np.float64).reshape(len(rows), n_classes),
        has_probabilities=np.asarray(has_probabilities, dtype=bool),
        keypoint_confidence=np.asarray(keypoint_confidence, dtype=np.float64),
    )


def uncertainty(probabilities: FloatArray, score: str) -> FloatArray:
    """An uncertainty score of each probability vector.

    Args:
        probabilities: Array of shape (n, C), rows summing to 1.
        score: One of `UNCERTAINTY_SCORES`.

    Returns:
        Array of shape (n,), float64, in [0, 1].
    """
    n_rows, n_classes = probabilities.shape
    if n_rows == 0:
        return np.zeros(0, dtype=np.float64)
    if score == "uncertainty_margin":
        if n_classes == 1:
            return np.clip(1.0 - probabilities[:, 0], 0.0, 1.0)
        top_two = np.partition(probabilities, n_classes - 2, axis=1)[:, -2:]
        return np.clip(1.0 - (top_two[:, 1] - top_two[:, 0]), 0.0, 1.0)
    if n_classes == 1:
        return np.zeros(n_rows, dtype=np.float64)
    if score == "uncertainty_least_confidence":
        values = (1.0 - probabilities.max(axis=1)) / (1.0 - 1.0 / n_classes)
    elif score == "uncertainty_entropy":
        safe = np.where(probabilities > 0.0, probabilities, 1.0)
        values = -(probabilities * np.log(safe)).sum(axis=1) / np.log(n_classes)
    else:
        raise ValueError(f"not an uncertainty score: {score}")
    return np.asarray(np.clip(values, 0.0, 1.0), dtype=np.float64)


def _object_uncertainty(objects: FlatPredictions, score: str) -> FloatArray:
    values = np.zeros(len(objects.sample_index), dtype=np.float64)
    with_probabilities = objects.has_probabilities
    values[with_probabilities] = uncertainty(objects.probabilities[with_probabilities], score)
    from_score = objects.score[~with_probabilities]
    two_class = np.stack([from_score, 1.0 - from_score], axis=1)
    values[~with_probabilities] = uncertainty(two_class, score)
    return values


def _mean_per_sample(sample_index: IntArray, values: FloatArray, n_samples: int) -> FloatArray:
    """Mean of the values of each sample; 0 for samples without values."""
    sums = np.bincount(sample_index, weights=values, minlength=n_samples)
    counts = np.bincount(sample_index, minlength=n_samples)
    return np.divide(sums, counts, out=np.zeros(n_samples, dtype=np.float64), where=counts > 0)


def _object_frequency(objects: FlatPredictions, n_samples: int) -> FloatArray:
    if n_samples == 0:
        return np.zeros(0, dtype=np.float64)
    n_objects = np.bincount(objects.sample_index, minlength=n_samples)
    n_columns = int(objects.category_column.max(initial=0)) + 1
    pairs = np.unique(objects.sample_index * n_columns + objects.category_column)
    n_classes_present = np.bincount(pairs // n_columns, minlength=n_samples)
    # sum over present classes of (1 + penalty * (n_class - 1)) = (1 - penalty) * classes + penalty * objects
    values = (1.0 - FREQUENCY_PENALTY) * n_classes_present + FREQUENCY_PENALTY * n_objects
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.ones(n_samples, dtype=np.float64)
    return FREQUENCY_MIN_SCORE + (1.0 - FREQUENCY_MIN_SCORE) * (values - low) / (high - low)
