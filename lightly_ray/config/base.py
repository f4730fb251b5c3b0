"""The base model of every config block: strict keys with a "did you mean" hint."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown keys and suggests the closest valid one.

    Field values are validated strictly enough that a string is never silently read as a
    number, but ints are accepted where floats are expected (JSON and YAML write `1` for 1.0).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        allowed = cls.allowed_keys()
        for key in data:
            if key in allowed:
                continue
            raise PydanticCustomError(
                "unknown_key",
                "{message}",
                {"message": unknown_key_message(str(key), sorted(allowed)), "key": str(key)},
            )
        return data

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
