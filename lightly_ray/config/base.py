"""The base model of every config block: strict keys with a "did you mean" hint."""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown keys and suggests the closest valid one.

    Field values are validated strictly enough that a string is never silently read as a
    number, but ints are accepted where floats are expected (JSON and YAML write `1` for 1.0).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True, strict=True)

    @model_validator(mode="wrap")
    @classmethod
    def _reject_unknown_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Validate the known keys and report every unknown one with them, all at once.

        pydantic's own `extra="forbid"` names no valid key; a check that raised before
        validating would hide every other problem of the block (and of the blocks around it).
        """
        if not isinstance(data, dict):
            return handler(data)
        allowed = cls.allowed_keys()
        unknown: list[Any] = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_key", "{message}", {"message": unknown_key_message(str(key), sorted(allowed))}
                ),
                loc=(str(key),),
                input=value,
            )
            for key, value in data.items()
            if key not in allowed
        ]
        if not unknown:
            return handler(data)
        try:
            handler({key: value for key, value in data.items() if key in allowed})
        except ValidationError as error:
            unknown += [error_details(item) for item in error.errors(include_url=False)]
        raise ValidationError.from_exception_data(cls.__name__, unknown)

    @classmethod
    def allowed_keys(cls) -> set[str]:
        """The keys this block accepts (field names and their aliases)."""
        keys: set[str] = set()
        for name, field in cls.model_fields.items():
            keys.add(field.alias or name)
            keys.add(name)
        return keys


def unknown_key_message(key: str, allowed: list[str]) -> str:
    """Build the message for an unknown key, with the closest valid key when one is close.

    Args:
        key: The key that was given.
        allowed: The keys valid at that place.

    Returns:
        A message such as "unknown key; did you mean 'n_samples'? Allowed keys here: ...".

    """
    close = closest_key(key, allowed)
    hint = f"; did you mean '{close}'?" if close else "."
    return f"unknown key{hint} Allowed keys here: {', '.join(allowed)}"


def closest_key(key: str, allowed: list[str]) -> str | None:
    """The valid name closest to a misspelled one, or None when none is close.

    Args:
        key: What was given.
        allowed: The valid names.

    Returns:
        The closest name by spelling (or by case alone), else None.

    """
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {name.lower(): name for name in allowed}
    return lowered.get(key.lower())


def error_details(item: ErrorDetails) -> Any:
    """One of pydantic's reported errors, as it is raised again (custom types rebuilt)."""
    ctx = item.get("ctx")
    if item["type"] in _known_error_types():
        details: dict[str, Any] = {"type": item["type"], "loc": item["loc"], "input": item["input"]}
        if ctx:
            details["ctx"] = ctx
        return details
    template = "{message}" if ctx and "message" in ctx else item["msg"]
    custom = PydanticCustomError(item["type"], template, ctx)
    return {"type": custom, "loc": item["loc"], "input": item["input"]}


@cache
def _known_error_types() -> frozenset[str]:
    return frozenset(get_args(ErrorType))
