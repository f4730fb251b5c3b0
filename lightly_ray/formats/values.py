"""Checks for values parsed from JSON: each returns the typed value or raises `FieldError`.

The checks are strict about types (a boolean is not a number, a string is not a number) and
about keys (an unknown key is an error, so that a typo in an optional key is not silently
ignored).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from lightly_ray.config.base import closest_key
from lightly_ray.formats.problems import FieldError, child_key, expected


def as_object(
    value: Any, key: str, *, required: Collection[str], optional: Collection[str] = ()
) -> dict[str, Any]:
    """A JSON object with all `required` keys and no key outside `required` and `optional`."""
    if not isinstance(value, dict):
        raise FieldError(key, expected("an object", value))
    known = [*required, *optional]
    unknown = [name for name in value if name not in known]
    for name in required:
        if name not in value:
            typo = closest_key(name, [str(item) for item in unknown])  # `scroe` for `score`
            if typo is not None:
                raise FieldError(child_key(key, typo), f"unknown key; did you mean '{name}'?")
            raise FieldError(child_key(key, name), "expected this key, but it is missing")
    for name in unknown:
        close = closest_key(str(name), known)
        hint = f"did you mean '{close}'? " if close else ""
        allowed = ", ".join(f"'{item}'" for item in known)
        raise FieldError(child_key(key, name), f"unknown key; {hint}expected one of {allowed}")
    return value


def as_list(value: Any, key: str, *, what: str = "a list") -> list[Any]:
    """A JSON list."""
    if not isinstance(value, list):
        raise FieldError(key, expected(what, value))
    return value


def as_string(value: Any, key: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise FieldError(key, expected("a non-empty string", value))
    return value


def is_integer(value: Any) -> bool:
    """Whether a JSON value is an integer (not a boolean; integral floats such as 3.0 count)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def is_number(value: Any) -> bool:
    """Whether a JSON value is a finite number (not a boolean)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def as_non_negative_int(value: Any, key: str) -> int:
    """A non-negative integer (a JSON integer, not a float or a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError(key, expected("a non-negative integer", value))
    return value


def as_number(value: Any, key: str, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite number, optionally within [minimum, maximum]."""
    if not is_number(value):
        raise FieldError(key, expected(_range_text(minimum, maximum), value))
    number = float(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise FieldError(key, expected(_range_text(minimum, maximum), value))
    return number


def as_numbers(value: Any, key: str, *, length: int | None = None, what: str | None = None) -> list[float]:
    """A list of finite numbers, optionally of an exact length."""
    description = what or (f"a list of {length} numbers" if length is not None else "a list of numbers")
    items = as_list(value, key, what=description)
    if length is not None and len(items) != length:
        raise FieldError(
            key, f"expected {description}, got {len(items)} item{'s' if len(items) != 1 else ''}"
        )
    for index, item in enumerate(items):
        if not is_number(item):
            raise FieldError(child_key(key, index), expected("a finite number", item))
    return [float(item) for item in items]


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"a number in [{_plain(minimum)}, {_plain(maximum)}]"
    if minimum is not None:
        return "a non-negative number" if minimum == 0 else f"a number >= {_plain(minimum)}"
    if maximum is not None:
        return f"a number <= {_plain(maximum)}"
    return "a finite number"


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)
