"""Label Studio regions: boxes cut to the image, or left out with no area in it (exports/label_studio.py)."""

from __future__ import annotations

from lightly_ray.exports.label_studio import label_studio_export
from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.prediction_schema import Category, TaskSchema, TaskType
from lightly_ray.formats.predictions import TaskPredictions

SCHEMA = TaskSchema("cars", TaskType.OBJECT_DETECTION, (Category(id=0, name="car"),))


def test_boxes_are_cut_to_the_image_and_those_with_no_area_in_it_are_left_out() -> None:
    boxes = [(200, 200, 10, 10), (5, 5, 0, 10), (120, 90, 50, 50), (-8, 10, 20, 20), (10, 10, 20, 20)]
    found = [Prediction(category_id=0, score=0.9, bbox=box) for box in boxes]
    predictions = {"cars": TaskPredictions(SCHEMA, predictions={"a.png": found})}

    (task,) = label_studio_export(["a.png"], ["/data/a.png"], [(128, 96)], predictions).tasks

    values = [region["value"] for region in task["predictions"][0]["result"]]
    placed = [(value["x"], value["y"], value["width"], value["height"]) for value in values]
    # (120, 90, 50, 50) keeps its 8 x 6 pixels inside; (-8, 10, 20, 20) its 12 x 20.
    assert placed == [
        (93.75, 93.75, 6.25, 6.25),
        (0.0, 10.4167, 9.375, 20.8333),
        (7.8125, 10.4167, 15.625, 20.8333),
    ]
    assert all(value["x"] + value["width"] <= 100 and value["y"] + value["height"] <= 100 for value in values)


def test_every_task_s_regions_are_one_prediction_with_one_model_version_for_all_samples() -> None:
    weather = TaskSchema(
        "weather", TaskType.CLASSIFICATION, (Category(id=0, name="sun"), Category(id=1, name="rain"))
    )
    cars = {"a.png": [Prediction(category_id=0, score=0.5, bbox=(1, 1, 10, 10))]}
    sky = {
        "a.png": [Prediction(category_id=1, probabilities=(0.1, 0.9))],
        "b.png": [Prediction(category_id=0)],
    }
    predictions = {
        "cars": TaskPredictions(SCHEMA, predictions=cars),
        "weather": TaskPredictions(weather, sky),
    }

    first, second = label_studio_export(
        ["a.png", "b.png"], ["/a.png", "/b.png"], [(64, 64)] * 2, predictions
    ).tasks

    ((entry,), (alone,)) = first["predictions"], second["predictions"]
    assert [region["from_name"] for region in entry["result"]] == ["cars", "weather"]
    assert entry["model_version"] == alone["model_version"] == "cars+weather"
    assert entry["score"] == 0.7  # the mean of the regions' scores
    assert [region["value"] for region in alone["result"]] == [{"choices": ["sun"]}]
