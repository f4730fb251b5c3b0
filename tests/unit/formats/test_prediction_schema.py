from __future__ import annotations

from typing import Any

import pytest

from lightly_ray.errors import InputFormatError
from lightly_ray.formats.prediction_schema import (
    Category,
    TaskType,
    parse_task_schema,
    read_task_names,
    read_task_schema,
)
from lightly_ray.formats.problems import FieldError
from lightly_ray.storage import Location

from .conftest import write_json


def test_tasks_json_is_read_in_order(lightly: Location) -> None:
    assert read_task_names(lightly) == []
    write_json(lightly, ".lightly/predictions/tasks.json", ["vehicles", "weather"])
    assert read_task_names(lightly) == ["vehicles", "weather"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"tasks": []}, ".lightly/predictions/tasks.json: expected a list of task names, got an object"),
        (["a", 3], ".lightly/predictions/tasks.json: [1]: expected a non-empty string, got 3"),
        (["a", "a"], '.lightly/predictions/tasks.json: [1]: expected distinct task names, got "a" twice'),
        (
            ["../x"],
            ".lightly/predictions/tasks.json: [0]: expected a task name that is a plain folder name "
            """(no '/', no leading '.'), got "../x\"""",
        ),
    ],
)
def test_tasks_json_errors(lightly: Location, content: Any, message: str) -> None:
    write_json(lightly, ".lightly/predictions/tasks.json", content)
    with pytest.raises(InputFormatError) as caught:
        read_task_names(lightly)
    assert str(caught.value) == message


def test_schema_with_gaps_is_sorted_by_id(lightly: Location) -> None:
    # Trailing commas as in the product documentation.
    lightly.write_bytes(
        ".lightly/predictions/vehicles/schema.json",
        b'{"task_type": "object-detection", "categories": [{"id": 5, "name": "truck",},'
        b' {"id": 0, "name": "car",}]}',
    )
    schema = read_task_schema(lightly, "vehicles")
    assert schema.task_type is TaskType.OBJECT_DETECTION
    assert schema.category_ids == (0, 5)
    assert schema.category_names == ("car", "truck")
    assert schema.column_of == {0: 0, 5: 1}
    assert schema.category(5) == Category(id=5, name="truck")
    assert schema.category(1) is None


def test_keypoint_categories_carry_names_and_skeleton() -> None:
    schema = parse_task_schema(
        {
            "task_type": "keypoint-detection",
            "categories": [
                {"id": 0, "name": "person", "keypoint_names": ["head", "hand"], "keypoint_skeleton": [[0, 1]]}
            ],
        },
        "people",
    )
    assert schema.categories[0].keypoint_names == ("head", "hand")
    assert schema.categories[0].keypoint_skeleton == ((0, 1),)


def test_missing_schema_is_an_error(lightly: Location) -> None:
    with pytest.raises(
        InputFormatError, match=r"^\.lightly/predictions/x/schema\.json: expected the schema of task 'x'"
    ):
        read_task_schema(lightly, "x")


def test_schema_error_names_file_and_key(lightly: Location) -> None:
    write_json(
        lightly,
        ".lightly/predictions/vehicles/schema.json",
        {
            "task_type": "classification",
            "categories": [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}, {"id": -1, "name": "c"}],
        },
    )
    with pytest.raises(InputFormatError) as caught:
        read_task_schema(lightly, "vehicles")
    assert str(caught.value) == (
        ".lightly/predictions/vehicles/schema.json: categories[2].id: expected a non-negative integer, got -1"
    )


def _categories(*items: dict[str, Any]) -> dict[str, Any]:
    return {"task_type": "classification", "categories": list(items)}


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ([], "", "expected an object, got a list of 0 items"),
        ({"categories": []}, "task_type", "expected this key, but it is missing"),
        (
            {"task_type": "detection", "categories": []},
            "task_type",
            "expected one of classification, object-detection, semantic-segmentation, instance-segmentation, "
            'keypoint-detection, got "detection"',
        ),
        (_categories(), "categories", "expected at least one category, got an empty list"),
        (
            {"task_type": "classification", "categories": {}},
            "categories",
            "expected a list of categories, got an object",
        ),
        (_categories({"id": 0}), "categories[0].name", "expected this key, but it is missing"),
        (_categories({"id": 0, "name": ""}), "categories[0].name", 'expected a non-empty string, got ""'),
        (
            _categories({"id": 1.0, "name": "a"}),
            "categories[0].id",
            "expected a non-negative integer, got 1.0",
        ),
        (
            _categories({"id": True, "name": "a"}),
            "categories[0].id",
            "expected a non-negative integer, got true",
        ),
        (
            _categories({"id": 0, "name": "a"}, {"id": 0, "name": "b"}),
            "categories[1].id",
            "expected unique category ids, got 0 also at categories[0]",
        ),
        (
            _categories({"id": 0, "name": "a"}, {"id": 1, "name": "a"}),
            "categories[1].name",
            'expected unique category names, got "a" also at categories[0]',
        ),
        (
            _categories({"id": 0, "name": "a", "keypoint_names": ["x"]}),
            "categories[0].keypoint_names",
            "unknown key; expected one of 'id', 'name'",
        ),
        (
            {
                "task_type": "keypoint-detection",
                "categories": [{"id": 0, "name": "a", "keypoint_skeleton": [[0]]}],
            },
            "categories[0].keypoint_skeleton[0]",
            "expected a pair [i, j] of keypoint indices, got a list of 1 item",
        ),
        (
            {
                "task_type": "keypoint-detection",
                "categories": [{"id": 0, "name": "a", "keypoint_names": ["x", 1]}],
            },
            "categories[0].keypoint_names[1]",
            "expected a non-empty string, got 1",
        ),
    ],
)
def test_schema_errors(data: Any, key: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_task_schema(data, "t")
    assert (caught.value.key, caught.value.message) == (key, message)
