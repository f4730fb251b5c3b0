from __future__ import annotations

from typing import Any

import pytest

from lightly_ray.formats.prediction_items import Prediction, parse_prediction, parse_prediction_file
from lightly_ray.formats.prediction_schema import TaskSchema, parse_task_schema
from lightly_ray.formats.problems import FieldError


def schema(task_type: str, **extra: Any) -> TaskSchema:
    categories = [
        {"id": 0, "name": "car", **extra},
        {"id": 2, "name": "bus", **extra},
        {"id": 7, "name": "van", **extra},
    ]
    return parse_task_schema({"task_type": task_type, "categories": categories}, "task")


def test_classification() -> None:
    name, predictions = parse_prediction_file(
        {
            "file_name": "subdir/image_1.png",
            "predictions": [{"category_id": 2, "probabilities": [0.1, 0.8, 0.1]}],
        },
        "subdir/image_1",
        schema("classification"),
    )
    assert name == "subdir/image_1.png"
    assert predictions == [Prediction(category_id=2, probabilities=(0.1, 0.8, 0.1))]


def test_object_detection_with_and_without_probabilities() -> None:
    _, predictions = parse_prediction_file(
        {
            "file_name": "a.jpg",
            "predictions": [
                {"category_id": 7, "bbox": [10, 20.5, 30, 0], "score": 0.8},
                {"category_id": 0, "bbox": [0, 0, 1, 1], "score": 1, "probabilities": [0.5, 0.25, 0.25]},
            ],
        },
        "a",
        schema("object-detection"),
    )
    assert predictions == [
        Prediction(category_id=7, score=0.8, bbox=(10.0, 20.5, 30.0, 0.0)),
        Prediction(category_id=0, score=1.0, bbox=(0.0, 0.0, 1.0, 1.0), probabilities=(0.5, 0.25, 0.25)),
    ]


def test_semantic_segmentation_checks_mask_size_when_known() -> None:
    data = {
        "file_name": "a.png",
        "predictions": [{"category_id": 2, "segmentation": [2, 2, 1, 3, 3, 1], "score": 0.9}],
    }
    _, predictions = parse_prediction_file(data, "a", schema("semantic-segmentation"), {"a.png": (4, 3)})
    assert predictions == [Prediction(category_id=2, score=0.9, segmentation=(2, 2, 1, 3, 3, 1))]
    with pytest.raises(FieldError) as caught:
        parse_prediction_file(data, "a", schema("semantic-segmentation"), {"a.png": (4, 4)})
    assert caught.value.key == "predictions[0].segmentation"
    assert caught.value.message == "expected run lengths adding up to width * height = 4 * 4 = 16, got 12"


def test_instance_segmentation() -> None:
    item = {
        "category_id": 0,
        "bbox": [1, 1, 2, 2],
        "segmentation": [5, 4, 7],
        "score": 0.5,
        "probabilities": [1, 0, 0],
    }
    assert parse_prediction(item, "p", schema("instance-segmentation")) == Prediction(
        category_id=0,
        score=0.5,
        bbox=(1.0, 1.0, 2.0, 2.0),
        segmentation=(5, 4, 7),
        probabilities=(1.0, 0.0, 0.0),
    )


def test_keypoint_detection_with_optional_bbox() -> None:
    item = {"category_id": 0, "keypoints": [1, 2, 0.5, 3, 4, 1.0], "score": 0.7, "bbox": [0, 0, 5, 5]}
    assert parse_prediction(item, "p", schema("keypoint-detection")) == Prediction(
        category_id=0, score=0.7, keypoints=(1.0, 2.0, 0.5, 3.0, 4.0, 1.0), bbox=(0.0, 0.0, 5.0, 5.0)
    )


def test_keypoint_count_follows_keypoint_names() -> None:
    named = schema("keypoint-detection", keypoint_names=["head", "hand"])
    item = {"category_id": 0, "keypoints": [1, 2, 0.5], "score": 0.7}
    with pytest.raises(FieldError) as caught:
        parse_prediction(item, "p", named)
    assert caught.value.key == "p.keypoints"
    assert caught.value.message == (
        "expected a list [x1, y1, c1, ...] of 3 * 2 numbers (the category's keypoint_names), got 3 items"
    )


def test_file_without_predictions_is_valid() -> None:
    assert parse_prediction_file(
        {"file_name": "a.png", "predictions": []}, "a", schema("object-detection")
    ) == (
        "a.png",
        [],
    )


DETECTION = {"category_id": 0, "bbox": [0, 0, 1, 1], "score": 0.5}


@pytest.mark.parametrize(
    ("task_type", "item", "key", "message"),
    [
        ("classification", {"category_id": 0}, "p.probabilities", "expected this key, but it is missing"),
        (
            "classification",
            {"category_id": 0, "probabilities": [0.5, 0.5]},
            "p.probabilities",
            "expected a list of 3 probabilities (one per category, in category-id order), got 2 items",
        ),
        (
            "classification",
            {"category_id": 0, "probabilities": [0.5, 0.4, 0.05]},
            "p.probabilities",
            "expected probabilities adding up to 1 (within 0.001), got 0.95",
        ),
        (
            "classification",
            {"category_id": 0, "probabilities": [1.5, -0.5, 0]},
            "p.probabilities[0]",
            "expected a probability in [0, 1], got 1.5",
        ),
        (
            "classification",
            {"category_id": 0, "probabilities": [0.5, "0.5", 0]},
            "p.probabilities[1]",
            'expected a finite number, got "0.5"',
        ),
        (
            "classification",
            {"category_id": 1, "probabilities": [1, 0, 0]},
            "p.category_id",
            "expected a category id of the task's schema (0, 2, 7), got 1",
        ),
        (
            "classification",
            {"category_id": 0, "probabilities": [1, 0, 0], "score": 1},
            "p.score",
            "unknown key; expected one of 'category_id', 'probabilities'",
        ),
        ("object-detection", {**DETECTION, "score": 1.2}, "p.score", "expected a number in [0, 1], got 1.2"),
        (
            "object-detection",
            {**DETECTION, "score": None},
            "p.score",
            "expected a number in [0, 1], got null",
        ),
        (
            "object-detection",
            {**DETECTION, "category_id": "car"},
            "p.category_id",
            'expected a non-negative integer, got "car"',
        ),
        (
            "object-detection",
            {**DETECTION, "bbox": [0, 0, -1, 1]},
            "p.bbox[2]",
            "expected a non-negative width, got -1",
        ),
        (
            "object-detection",
            {**DETECTION, "bbox": [0, 0, 1, -2]},
            "p.bbox[3]",
            "expected a non-negative height, got -2",
        ),
        (
            "object-detection",
            {**DETECTION, "bbox": [0, 0, 1]},
            "p.bbox",
            "expected a box [x, y, width, height] in pixels, got 3 items",
        ),
        (
            "object-detection",
            {**DETECTION, "bbox": [0, float("nan"), 1, 1]},
            "p.bbox[1]",
            "expected a finite number, got nan",
        ),
        (
            "object-detection",
            {**DETECTION, "segmentation": [1]},
            "p.segmentation",
            "unknown key; expected one of 'category_id', 'bbox', 'score', 'probabilities'",
        ),
        (
            "object-detection",
            {"category_id": 0, "bbox": [0, 0, 1, 1], "scroe": 0.5},
            "p.scroe",
            "unknown key; did you mean 'score'?",
        ),
        (
            "object-detection",
            {**DETECTION, "probabilites": [0.5]},
            "p.probabilites",
            "unknown key; did you mean 'probabilities'? expected one of 'category_id', 'bbox', 'score', "
            "'probabilities'",
        ),
        (
            "semantic-segmentation",
            {"category_id": 0, "segmentation": [], "score": 0.5},
            "p.segmentation",
            "expected a non-empty list of run lengths (RLE), got a list of 0 items",
        ),
        (
            "instance-segmentation",
            {"category_id": 0, "segmentation": [1], "score": 0.5},
            "p.bbox",
            "expected this key, but it is missing",
        ),
        (
            "keypoint-detection",
            {"category_id": 0, "keypoints": [1, 2, 0.5, 3], "score": 0.5},
            "p.keypoints",
            "expected a non-empty multiple of 3 numbers [x, y, confidence, ...], got 4",
        ),
        (
            "keypoint-detection",
            {"category_id": 0, "keypoints": [1, 2, 2], "score": 0.5},
            "p.keypoints[2]",
            "expected a keypoint confidence in [0, 1], got 2",
        ),
        ("keypoint-detection", "x", "p", 'expected an object, got "x"'),
    ],
)
def test_prediction_errors(task_type: str, item: Any, key: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_prediction(item, "p", schema(task_type))
    assert (caught.value.key, caught.value.message) == (key, message)


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ({"predictions": []}, "file_name", "expected this key, but it is missing"),
        (
            {"file_name": "a.png", "predictions": {}},
            "predictions",
            "expected a list of predictions, got an object",
        ),
        (
            {"file_name": "a.png", "predictions": [], "x": 1},
            "x",
            "unknown key; expected one of 'file_name', 'predictions'",
        ),
        (
            {"file_name": 3, "predictions": []},
            "file_name",
            "expected a sample path relative to the input root, got 3",
        ),
        (
            {"file_name": "b.png", "predictions": []},
            "file_name",
            "expected a sample whose path without extension is 'a' (as the file's own path), got 'b.png'",
        ),
    ],
)
def test_file_errors(data: Any, key: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_prediction_file(data, "a", schema("object-detection"))
    assert (caught.value.key, caught.value.message) == (key, message)


@pytest.mark.parametrize("unsafe", ["../a.png", "/a.png", "x/../../a.png"])
def test_unsafe_file_name_is_rejected(unsafe: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_prediction_file({"file_name": unsafe, "predictions": []}, "a", schema("object-detection"))
    assert caught.value.key == "file_name"
    assert caught.value.message.startswith("expected a path relative to the input root, got an unsafe path")


def test_classification_allows_at_most_one_prediction() -> None:
    item = {"category_id": 0, "probabilities": [1, 0, 0]}
    with pytest.raises(FieldError) as caught:
        parse_prediction_file(
            {"file_name": "a.png", "predictions": [item, item]}, "a", schema("classification")
        )
    assert (caught.value.key, caught.value.message) == (
        "predictions",
        "expected at most one classification prediction, got 2",
    )
