"""Prediction tasks: `.lightly/predictions/tasks.json` and each task's `schema.json`.

`tasks.json` is a JSON list of task names, each a sub-folder of `.lightly/predictions/`; only
listed tasks are read. A task's `schema.json` is
`{"task_type": T, "categories": [{"id": 0, "name": "car"}, ...]}`; category ids are unique
non-negative integers (gaps allowed), names are unique non-empty strings. Keypoint-detection
categories may also carry `keypoint_names` (a list of strings) and `keypoint_skeleton` (a list of
pairs of non-negative keypoint indices). A listed task without a valid schema is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from lightly_ray.errors import InputFormatError
from lightly_ray.formats.jsonfile import read_json
from lightly_ray.formats.problems import FieldError, child_key, describe, expected
from lightly_ray.formats.values import as_list, as_non_negative_int, as_object, as_string
from lightly_ray.storage import Location

PREDICTIONS_FOLDER = ".lightly/predictions"
TASKS_FILE = f"{PREDICTIONS_FOLDER}/tasks.json"


class TaskType(StrEnum):
    """The kinds of prediction task, as spelled in `schema.json`."""

    CLASSIFICATION = "classification"
    OBJECT_DETECTION = "object-detection"
    SEMANTIC_SEGMENTATION = "semantic-segmentation"
    INSTANCE_SEGMENTATION = "instance-segmentation"
    KEYPOINT_DETECTION = "keypoint-detection"


@dataclass(frozen=True)
class Category:
    """One category of a task.

    Attributes:
        id: The category id predictions refer to.
        name: The category name (class name in selection configs).
        keypoint_names: Names of the keypoints (keypoint detection only).
        keypoint_skeleton: Pairs of keypoint indices that are connected (keypoint detection only).

    """

    id: int
    name: str
    keypoint_names: tuple[str, ...] | None = None
    keypoint_skeleton: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True)
class TaskSchema:
    """The schema of one prediction task.

    Attributes:
        task_name: The task's folder name under `.lightly/predictions/`.
        task_type: What its predictions look like.
        categories: The categories, sorted by id.

    """

    task_name: str
    task_type: TaskType
    categories: tuple[Category, ...]

    @property
    def category_ids(self) -> tuple[int, ...]:
        """Category ids in ascending order: the order of every probability vector."""
        return tuple(category.id for category in self.categories)

    @property
    def category_names(self) -> tuple[str, ...]:
        """Category names, in the order of `category_ids`."""
        return tuple(category.name for category in self.categories)

    def category(self, category_id: int) -> Category | None:
        """The category with this id, or None."""
        return self.categories_by_id.get(category_id)

    @cached_property
    def categories_by_id(self) -> dict[int, Category]:
        """Categories by id."""
        return {category.id: category for category in self.categories}

    @cached_property
    def column_of(self) -> dict[int, int]:
        """Position of each category id in a probability vector."""
        return {category.id: index for index, category in enumerate(self.categories)}


def task_folder(task_name: str) -> str:
    """The folder of a task relative to the lightly location."""
    return f"{PREDICTIONS_FOLDER}/{task_name}"


def schema_path(task_name: str) -> str:
    """The path of a task's `schema.json` relative to the lightly location."""
    return f"{task_folder(task_name)}/schema.json"


def read_task_names(location: Location) -> list[str]:
    """Read `.lightly/predictions/tasks.json`.

    Args:
        location: The lightly location.

    Returns:
        The listed task names in file order; an empty list when the file does not exist.

    Raises:
        InputFormatError: When the file is not a list of distinct, plain folder names.

    """
    try:
        data = read_json(location, TASKS_FILE)
    except FileNotFoundError:
        return []
    except FieldError as error:
        raise error.to_error(TASKS_FILE) from None
    try:
        return parse_task_names(data)
    except FieldError as error:
        raise error.to_error(TASKS_FILE) from None


def parse_task_names(data: Any) -> list[str]:
    """Validate the parsed content of `tasks.json`.

    Raises:
        FieldError: For a value that is not a list of distinct folder names.

    """
    items = as_list(data, "", what="a list of task names")
    names: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        key = f"[{index}]"
        name = as_string(item, key)
        if "/" in name or "\\" in name or name.startswith(".") or name != name.strip():
            raise FieldError(
                key, expected("a task name that is a plain folder name (no '/', no leading '.')", item)
            )
        if name in seen:
            raise FieldError(key, f"expected distinct task names, got {describe(name)} twice")
        seen.add(name)
        names.append(name)
    return names


def read_task_schema(location: Location, task_name: str) -> TaskSchema:
    """Read and validate the `schema.json` of one task.

    Args:
        location: The lightly location.
        task_name: A name listed in `tasks.json`.

    Raises:
        InputFormatError: When the schema is missing or invalid.

    """
    path = schema_path(task_name)
    try:
        data = read_json(location, path)
    except FileNotFoundError:
        raise InputFormatError(
            f"{path}: expected the schema of task '{task_name}' (listed in {TASKS_FILE}), "
            "but the file does not exist"
        ) from None
    except FieldError as error:
        raise error.to_error(path) from None
    try:
        return parse_task_schema(data, task_name)
    except FieldError as error:
        raise error.to_error(path) from None


def parse_task_schema(data: Any, task_name: str) -> TaskSchema:
    """Validate the parsed content of a task's `schema.json`.

    Raises:
        FieldError: For the first invalid value.

    """
    body = as_object(data, "", required=("task_type", "categories"))
    raw_type = body["task_type"]
    allowed = ", ".join(item.value for item in TaskType)
    if raw_type not in {item.value for item in TaskType}:
        raise FieldError("task_type", expected(f"one of {allowed}", raw_type))
    task_type = TaskType(raw_type)
    items = as_list(body["categories"], "categories", what="a list of categories")
    if not items:
        raise FieldError("categories", "expected at least one category, got an empty list")
    categories: list[Category] = []
    ids: dict[int, int] = {}
    names: dict[str, int] = {}
    for index, item in enumerate(items):
        key = child_key("categories", index)
        category = _parse_category(item, key, task_type)
        if category.id in ids:
            raise FieldError(
                child_key(key, "id"),
                f"expected unique category ids, got {category.id} also at categories[{ids[category.id]}]",
            )
        if category.name in names:
            raise FieldError(
                child_key(key, "name"),
                f"expected unique category names, got {describe(category.name)} "
                f"also at categories[{names[category.name]}]",
            )
        ids[category.id] = index
        names[category.name] = index
        categories.append(category)
    categories.sort(key=lambda category: category.id)
    return TaskSchema(task_name=task_name, task_type=task_type, categories=tuple(categories))


def _parse_category(item: Any, key: str, task_type: TaskType) -> Category:
    keypoint_keys = (
        ("keypoint_names", "keypoint_skeleton") if task_type is TaskType.KEYPOINT_DETECTION else ()
    )
    body = as_object(item, key, required=("id", "name"), optional=keypoint_keys)
    category_id = as_non_negative_int(body["id"], child_key(key, "id"))
    name = as_string(body["name"], child_key(key, "name"))
    keypoint_names: tuple[str, ...] | None = None
    skeleton: tuple[tuple[int, int], ...] | None = None
    if "keypoint_names" in body:
        names_key = child_key(key, "keypoint_names")
        raw_names = as_list(body["keypoint_names"], names_key, what="a list of keypoint names")
        keypoint_names = tuple(as_string(value, child_key(names_key, i)) for i, value in enumerate(raw_names))
    if "keypoint_skeleton" in body:
        skeleton_key = child_key(key, "keypoint_skeleton")
        raw_skeleton = as_list(
            body["keypoint_skeleton"], skeleton_key, what="a list of [i, j] keypoint index pairs"
        )
        pairs: list[tuple[int, int]] = []
        for i, pair in enumerate(raw_skeleton):
            pair_key = child_key(skeleton_key, i)
            if not isinstance(pair, list) or len(pair) != 2:
                raise FieldError(pair_key, expected("a pair [i, j] of keypoint indices", pair))
            first = as_non_negative_int(pair[0], child_key(pair_key, 0))
            second = as_non_negative_int(pair[1], child_key(pair_key, 1))
            pairs.append((first, second))
        skeleton = tuple(pairs)
    return Category(id=category_id, name=name, keypoint_names=keypoint_names, keypoint_skeleton=skeleton)
