"""Problems found while reading the files of the lightly location, and how they are worded.

Every message names the file (relative to the lightly location), the key inside it (or a line
number) and says what was expected and what was found::

    .lightly/predictions/vehicles/schema.json: categories[2].id: expected a non-negative integer, got -1

Parsers raise `FieldError` for the first problem inside one file; the caller turns it into a
`FormatProblem` (collected: the file is skipped) or an `InputFormatError` (fatal).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from lightly_ray.errors import InputFormatError

_MAX_SHOWN = 60


@dataclass(frozen=True)
class FormatProblem:
    """One problem with one file: the file is skipped or a value falls back to its default.

    Attributes:
        file: Path of the file relative to the lightly location.
        key: Where inside the file, such as `predictions[0].bbox` or `line 3`; empty for the whole file.
        message: What was expected and what was found.

    """

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return join_message(self.file, self.key, self.message)


class FieldError(Exception):
    """A value inside a file does not follow its format.

    Args:
        key: Where inside the file, such as `categories[2].id`; empty for the whole file.
        message: What was expected and what was found.

    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message

    def to_problem(self, file: str) -> FormatProblem:
        """The error as a problem of `file`."""
        return FormatProblem(file=file, key=self.key, message=self.message)

    def to_error(self, file: str) -> InputFormatError:
        """The error as a fatal `InputFormatError` naming `file`."""
        return InputFormatError(join_message(file, self.key, self.message))


def join_message(file: str, key: str, message: str) -> str:
    """`file: key: message`, leaving out an empty key."""
    return f"{file}: {key}: {message}" if key else f"{file}: {message}"


def describe(value: Any) -> str:
    """A short, unambiguous rendering of a JSON value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)
        return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 4] + '..."'
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def expected(what: str, value: Any) -> str:
    """`expected <what>, got <value>`."""
    return f"expected {what}, got {describe(value)}"


def child_key(parent: str, child: str | int) -> str:
    """The key of a member (`parent.child`) or of a list item (`parent[3]`)."""
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else child


def summarize_problems(problems: list[FormatProblem], limit: int = 5) -> str:
    """The first `limit` problems, one per line, and how many more there are."""
    lines = [f"  - {problem}" for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  - ... and {len(problems) - limit} more")
    return "\n".join(lines)
