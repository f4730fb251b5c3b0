"""Reading JSON files from the lightly location.

Strict JSON, with one tolerance: a comma right before a closing `}` or `]` is accepted, because
the product documentation shows schemas written that way and users copy them.
"""

from __future__ import annotations

import json
from typing import Any

from lightly_ray.formats.problems import FieldError
from lightly_ray.storage import Location


def read_json(location: Location, path: str) -> Any:
    """Read and parse one JSON file.

    Args:
        location: The lightly location.
        path: The file, relative to the location.

    Returns:
        The parsed value.

    Raises:
        FileNotFoundError: When the file does not exist.
        FieldError: With an empty key when the file is not UTF-8 JSON.

    """
    return parse_json(location.read_bytes(path))


def parse_json(data: bytes) -> Any:
    """Parse JSON bytes (UTF-8, an optional byte-order mark), tolerating trailing commas.

    Raises:
        FieldError: With an empty key and the line and column of the first syntax error.

    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FieldError(
            "", f"expected UTF-8 text, got an undecodable byte at offset {error.start}"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        first = error
    try:
        return json.loads(strip_trailing_commas(text))
    except json.JSONDecodeError:
        raise FieldError(
            "",
            f"expected valid JSON, got a syntax error at line {first.lineno} column {first.colno}: "
            f"{first.msg}",
        ) from None


def strip_trailing_commas(text: str) -> str:
    """Remove every comma that is followed (after whitespace) by `}` or `]`, outside strings."""
    out: list[str] = []
    in_string = False
    escaped = False
    pending_comma: int | None = None
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char in "}]" and pending_comma is not None:
            del out[pending_comma]
        if char == ",":
            pending_comma = len(out)
        elif not char.isspace():
            pending_comma = None
        if char == '"':
            in_string = True
        out.append(char)
    return "".join(out)
