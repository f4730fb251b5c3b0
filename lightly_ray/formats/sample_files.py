"""Per-sample JSON files: where they live and which sample they belong to.

Predictions and metadata are stored one file per sample at
`<folder>/<sample path without extension>.json`, and the file's `file_name` names the sample.
Video frames are samples named `{video path without extension}-{index}-{extension}.png`, so
`clips/a-000-mp4.png` has its file at `<folder>/clips/a-000-mp4.json`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Container, Iterable
from typing import Any

from lightly_ray.errors import UnsafePathError
from lightly_ray.formats.problems import FieldError, FormatProblem, expected
from lightly_ray.storage import Location, safe_relative_path


def stem(name: str) -> str:
    """A sample path without its extension: `subdir/image_1.png` -> `subdir/image_1`."""
    head, tail = posixpath.split(name)
    root, _ = posixpath.splitext(tail)
    return posixpath.join(head, root) if head else root


def sample_file_path(folder: str, name: str) -> str:
    """The path of a sample's JSON file inside `folder`: `<folder>/<name without extension>.json`."""
    return f"{folder}/{stem(name)}.json"


def index_by_stem(names: Iterable[str]) -> dict[str, list[str]]:
    """Group sample names by their path without extension (`a.png` and `a.jpg` share `a`)."""
    by_stem: dict[str, list[str]] = {}
    for name in names:
        by_stem.setdefault(stem(name), []).append(name)
    return by_stem


def list_sample_files(location: Location, folder: str, *, skip: Iterable[str] = ()) -> dict[str, str]:
    """Every `.json` file below `folder`, by the stem of the sample it belongs to.

    Args:
        location: The lightly location.
        folder: A folder relative to the location, such as `.lightly/metadata`.
        skip: File paths relative to `folder` that are not per-sample files (`schema.json`).

    Returns:
        Map from sample stem (`subdir/image_1`) to file path (`<folder>/subdir/image_1.json`).
        Hidden files (a path component starting with a dot) are left out, as the input lister
        leaves out hidden samples.

    """
    skipped = set(skip)
    files: dict[str, str] = {}
    start = len(folder) + 1
    for listed in location.list_files(folder):
        relative = listed.path[start:]
        if not relative.endswith(".json") or relative in skipped:
            continue
        files[relative[: -len(".json")]] = listed.path
    return files


def split_known_files(
    files: dict[str, str], known_stems: Container[str], what: str, nobody: str = "none"
) -> tuple[list[tuple[str, str]], list[FormatProblem]]:
    """Split listed sample files into those of known samples and problems for the others.

    Args:
        files: File stem -> file path, from `list_sample_files`.
        known_stems: Stems of the samples (or videos) a file may describe.
        what: What a file should belong to, for the message, e.g. "an input sample".
        nobody: Who, in the message, has no such path, e.g. "no input sample".

    Returns:
        (path, stem) pairs to read, sorted by path, and one problem per unmatched file.
    """
    to_read: list[tuple[str, str]] = []
    problems: list[FormatProblem] = []
    for file_stem, path in sorted(files.items(), key=lambda item: item[1]):
        if file_stem in known_stems:
            to_read.append((path, file_stem))
        else:
            message = (
                f"expected a file of {what}, but {nobody} has the path without extension "
                f"'{file_stem}'; the file is ignored"
            )
            problems.append(FormatProblem(file=path, key="", message=message))
    return to_read, problems


def check_file_name(value: Any, key: str, file_stem: str) -> str:
    """Validate the `file_name` of a per-sample file.

    Args:
        value: The parsed JSON value.
        key: Its key, for messages.
        file_stem: The stem the file's own path implies.

    Returns:
        The normalised sample name.

    Raises:
        FieldError: When the value is not a string, escapes the input root, or names a sample
            whose path without extension differs from the file's.

    """
    if not isinstance(value, str) or not value:
        raise FieldError(key, expected("a sample path relative to the input root", value))
    try:
        name = safe_relative_path(value)
    except UnsafePathError as error:
        raise FieldError(
            key, f"expected a path relative to the input root, got an unsafe path: {error}"
        ) from None
    if stem(name) != file_stem:
        raise FieldError(
            key,
            f"expected a sample whose path without extension is '{file_stem}' (as the file's own path), "
            f"got '{value}'",
        )
    return name
