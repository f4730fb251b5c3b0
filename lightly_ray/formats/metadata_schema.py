"""Custom metadata schema: `.lightly/metadata/schema.json`.

A JSON list of fields::

    [{"name": "Weather description", "path": "weather.description",
      "defaultValue": "unknown", "valueDataType": "CATEGORICAL_STRING"}]

- `name`: a non-empty display name.
- `path`: a dotted path into each sample's `metadata` object; unique; must not start with
  `lightly` (reserved for the metadata lightly_ray computes); no path may be the parent of
  another (`weather` and `weather.description`), as one value cannot be both.
- `valueDataType`: NUMERIC_INT, NUMERIC_FLOAT, CATEGORICAL_INT, CATEGORICAL_STRING or
  CATEGORICAL_BOOLEAN.
- `defaultValue`: the value of samples that lack the file or the key; it must have the type.

Types: integers are JSON integers (an integral float such as `3.0` is accepted as 3), floats
are any finite JSON number, strings are JSON strings, booleans are `true`/`false`. A boolean is
never a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lightly_ray.formats.jsonfile import read_json
from lightly_ray.formats.problems import FieldError, child_key, describe, expected
from lightly_ray.formats.values import as_list, as_object, as_string, is_integer, is_number
from lightly_ray.storage import Location

METADATA_FOLDER = ".lightly/metadata"
METADATA_SCHEMA_FILE = f"{METADATA_FOLDER}/schema.json"
RESERVED_PREFIX = "lightly"


class MetadataType(StrEnum):
    """The value types of custom metadata."""

    NUMERIC_INT = "NUMERIC_INT"
    NUMERIC_FLOAT = "NUMERIC_FLOAT"
    CATEGORICAL_INT = "CATEGORICAL_INT"
    CATEGORICAL_STRING = "CATEGORICAL_STRING"
    CATEGORICAL_BOOLEAN = "CATEGORICAL_BOOLEAN"

    @property
    def is_numeric(self) -> bool:
        """Whether values are numbers that weights and thresholds may use."""
        return self in (MetadataType.NUMERIC_INT, MetadataType.NUMERIC_FLOAT)


_TYPE_TEXT = {
    MetadataType.NUMERIC_INT: "an integer",
    MetadataType.NUMERIC_FLOAT: "a number",
    MetadataType.CATEGORICAL_INT: "an integer",
    MetadataType.CATEGORICAL_STRING: "a string",
    MetadataType.CATEGORICAL_BOOLEAN: "true or false",
}


@dataclass(frozen=True)
class MetadataField:
    """One field of the custom metadata schema.

    Attributes:
        name: Display name.
        path: Dotted path into each sample's `metadata` object.
        value_type: The type of every value.
        default: The value of samples without this key (already converted, see `convert_value`).

    """

    name: str
    path: str
    value_type: MetadataType
    default: float | int | str | bool


def convert_value(value: Any, value_type: MetadataType, key: str) -> float | int | str | bool:
    """Check a JSON value against a metadata type and convert it.

    Returns:
        A float for NUMERIC_FLOAT, an int for the integer types, a str or a bool otherwise.

    Raises:
        FieldError: When the value does not have the type.

    """
    what = f"{_TYPE_TEXT[value_type]} ({value_type.value})"
    if value_type is MetadataType.NUMERIC_FLOAT:
        if not is_number(value):
            raise FieldError(key, expected(what, value))
        return float(value)
    if value_type in (MetadataType.NUMERIC_INT, MetadataType.CATEGORICAL_INT):
        if not is_integer(value):
            raise FieldError(key, expected(what, value))
        return int(value)
    if value_type is MetadataType.CATEGORICAL_STRING:
        if not isinstance(value, str):
            raise FieldError(key, expected(what, value))
        return value
    if not isinstance(value, bool):
        raise FieldError(key, expected(what, value))
    return value


def read_metadata_schema(location: Location) -> list[MetadataField] | None:
    """Read `.lightly/metadata/schema.json`.

    Returns:
        The fields in file order, or None when the file does not exist.

    Raises:
        InputFormatError: When the schema is invalid.

    """
    try:
        data = read_json(location, METADATA_SCHEMA_FILE)
        return parse_metadata_schema(data)
    except FileNotFoundError:
        return None
    except FieldError as error:
        raise error.to_error(METADATA_SCHEMA_FILE) from None


def parse_metadata_schema(data: Any) -> list[MetadataField]:
    """Validate the parsed content of the metadata schema.

    Raises:
        FieldError: For the first invalid value.

    """
    items = as_list(data, "", what="a list of metadata fields")
    fields: list[MetadataField] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        key = f"[{index}]"
        body = as_object(item, key, required=("name", "path", "defaultValue", "valueDataType"))
        name = as_string(body["name"], child_key(key, "name"))
        path = _check_path(body["path"], child_key(key, "path"))
        raw_type = body["valueDataType"]
        if raw_type not in {item.value for item in MetadataType}:
            allowed = ", ".join(item.value for item in MetadataType)
            raise FieldError(child_key(key, "valueDataType"), expected(f"one of {allowed}", raw_type))
        value_type = MetadataType(raw_type)
        default = convert_value(body["defaultValue"], value_type, child_key(key, "defaultValue"))
        if path in seen:
            raise FieldError(
                child_key(key, "path"), f"expected unique paths, got {describe(path)} also at [{seen[path]}]"
            )
        for other, other_index in seen.items():
            if path.startswith(other + ".") or other.startswith(path + "."):
                raise FieldError(
                    child_key(key, "path"),
                    f"expected paths of which none is the parent of another, got {describe(path)} "
                    f"and {describe(other)} at [{other_index}]",
                )
        seen[path] = index
        fields.append(MetadataField(name=name, path=path, value_type=value_type, default=default))
    return fields


def _check_path(value: Any, key: str) -> str:
    path = as_string(value, key)
    if any(not part.strip() or part != part.strip() for part in path.split(".")):
        raise FieldError(
            key, expected("a dotted path of non-empty names such as 'weather.description'", value)
        )
    if path.startswith(RESERVED_PREFIX):
        raise FieldError(
            key, expected(f"a path that does not start with '{RESERVED_PREFIX}' (reserved)", value)
        )
    return path
