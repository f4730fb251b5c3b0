from __future__ import annotations

import math
import time

import numpy as np
import pytest

from lightly_ray.errors import LightlyRayError
from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.prediction_schema import TaskType
from lightly_ray.selection.scorers import (
    UnknownScoreError,
    available_scores,
    category_count,
    class_distribution,
    compute_score,
    uncertainty,
)

from .helpers import make_task

NAMES = ["a.png", "b.png", "c.png"]


def classification():
    return make_task(
        "weather",
        TaskType.CLASSIFICATION,
        ["sun", "rain", "snow"],
        {
            "a.png": [Prediction(category_id=0, probabilities=(0.5, 0.3, 0.2))],
            "b.png": [Prediction(category_id=1, probabilities=(0.0, 1.0, 0.0))],
        },
    )


def test_classification_scores_by_hand() -> None:
    task = classification()
    least = compute_score(task, NAMES, "uncertainty_least_confidence")
    np.testing.assert_allclose(least, [(1 - 0.5) / (1 - 1 / 3), 0.0, 0.0])
    margin = compute_score(task, NAMES, "uncertainty_margin")
    np.testing.assert_allclose(margin, [1 - (0.5 - 0.3), 0.0, 0.0])
    entropy = compute_score(task, NAMES, "uncertainty_entropy")
    expected = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)) / math.log(3)
    np.testing.assert_allclose(entropy, [expected, 0.0, 0.0])


def test_uniform_probabilities_are_maximally_uncertain() -> None:
    uniform = np.full((1, 4), 0.25)
    for score in ("uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy"):
        np.testing.assert_allclose(uncertainty(uniform, score), [1.0])


def test_single_class_has_no_uncertainty() -> None:
    one = np.ones((2, 1))
    for score in ("uncertainty_least_confidence", "uncertainty_margin", "uncertainty_entropy"):
        np.testing.assert_allclose(uncertainty(one, score), [0.0, 0.0])


def detection():
    return make_task(
        "cars",
        TaskType.OBJECT_DETECTION,
        ["car", "bus"],
        {
            "a.png": [
                Prediction(category_id=0, score=0.9, bbox=(0, 0, 1, 1)),
                Prediction(category_id=0, score=0.6, bbox=(0, 0, 1, 1)),
                Prediction(category_id=1, score=0.8, bbox=(0, 0, 1, 1), probabilities=(0.3, 0.7)),
            ],
            "b.png": [Prediction(category_id=1, score=0.5, bbox=(0, 0, 1, 1))],
            "c.png": [],
        },
    )


def test_detection_uncertainty_is_the_max_over_objects() -> None:
    task = detection()
    # a: objects [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]; least confidence (1 - max) / 0.5.
    np.testing.assert_allclose(
        compute_score(task, NAMES, "uncertainty_least_confidence"), [max(0.2, 0.8, 0.6), 1.0, 0.0]
    )
    np.testing.assert_allclose(compute_score(task, NAMES, "uncertainty_margin"), [1 - 0.2, 1.0, 0.0])
    h = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4)) / math.log(2)
    np.testing.assert_allclose(compute_score(task, NAMES, "uncertainty_entropy"), [h, 1.0, 0.0])


def test_objectness_least_confidence() -> None:
    scores = compute_score(detection(), NAMES, "objectness_least_confidence")
    np.testing.assert_allclose(scores, [1 - (0.9 + 0.6 + 0.8) / 3, 0.5, 0.0])


def test_object_frequency_min_max_mapped() -> None:
    # a: car x2 (1 + 0.25) + bus (1) = 2.25; b: 1; c: 0 -> mapped to [0.9, 1].
    scores = compute_score(detection(), NAMES, "object_frequency")
    np.testing.assert_allclose(scores, [1.0, 0.9 + 0.1 * 1 / 2.25, 0.9])


def test_object_frequency_constant_is_one() -> None:
    task = make_task("t", TaskType.OBJECT_DETECTION, ["car"], {})
    np.testing.assert_allclose(compute_score(task, NAMES, "object_frequency"), [1.0, 1.0, 1.0])


def test_segmentation_averages_over_masks() -> None:
    for task_type in (TaskType.SEMANTIC_SEGMENTATION, TaskType.INSTANCE_SEGMENTATION):
        task = make_task(
            "seg",
            task_type,
            ["road", "sky"],
            {
                "a.png": [
                    Prediction(category_id=0, score=0.9, segmentation=(0, 4)),
                    Prediction(category_id=1, score=0.7, segmentation=(0, 4), probabilities=(0.4, 0.6)),
                ]
            },
        )
        least = compute_score(task, NAMES, "uncertainty_least_confidence")
        np.testing.assert_allclose(least, [(0.2 + 0.8) / 2, 0.0, 0.0])
        margin = compute_score(task, NAMES, "uncertainty_margin")
        np.testing.assert_allclose(margin, [(0.2 + 0.8) / 2, 0.0, 0.0])


def test_keypoints_mean_uncertainty() -> None:
    task = make_task(
        "pose",
        TaskType.KEYPOINT_DETECTION,
        ["person"],
        {
            "a.png": [
                Prediction(category_id=0, score=0.9, keypoints=(1, 1, 0.8, 2, 2, 0.6)),
                Prediction(category_id=0, score=0.9, keypoints=(1, 1, 0.4)),
            ],
            "b.png": [],
        },
    )
    np.testing.assert_allclose(compute_score(task, NAMES, "mean_uncertainty"), [1 - (0.7 + 0.4) / 2, 0, 0])


def test_available_scores_by_task_type() -> None:
    assert available_scores(TaskType.CLASSIFICATION) == (
        "uncertainty_least_confidence",
        "uncertainty_margin",
        "uncertainty_entropy",
    )
    assert "object_frequency" in available_scores(TaskType.OBJECT_DETECTION)
    assert available_scores(TaskType.KEYPOINT_DETECTION) == ("mean_uncertainty",)


def test_unknown_score_lists_the_available_ones() -> None:
    with pytest.raises(UnknownScoreError, match="available: uncertainty_least_confidence") as info:
        compute_score(classification(), NAMES, "object_frequency")
    assert isinstance(info.value, LightlyRayError)


def test_class_distribution_sums_objects() -> None:
    vectors = class_distribution(detection(), NAMES)
    np.testing.assert_allclose(vectors, [[2.3, 0.7], [0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(class_distribution(classification(), NAMES)[0], [0.5, 0.3, 0.2])


def test_category_count() -> None:
    np.testing.assert_allclose(category_count(detection(), NAMES), [3, 1, 0])
    np.testing.assert_allclose(category_count(detection(), NAMES, [1]), [1, 1, 0])


def test_100k_samples_are_fast() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(5), size=300_000)
    names = [f"{i:06d}.png" for i in range(100_000)]
    predictions = {
        name: [
            Prediction(
                category_id=int(j % 5),
                score=0.5,
                bbox=(0, 0, 1, 1),
                probabilities=tuple(probabilities[3 * i + j]),
            )
            for j in range(3)
        ]
        for i, name in enumerate(names)
    }
    task = make_task("big", TaskType.OBJECT_DETECTION, ["a", "b", "c", "d", "e"], predictions)
    start = time.perf_counter()
    scores = compute_score(task, names, "uncertainty_entropy")
    frequency = compute_score(task, names, "object_frequency")
    assert time.perf_counter() - start < 3.0
    assert scores.shape == (100_000,) and np.all((scores >= 0) & (scores <= 1))
    assert frequency.shape == (100_000,)
