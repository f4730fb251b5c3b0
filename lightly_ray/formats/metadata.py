"""Custom metadata of samples: `.lightly/metadata/<sample path without extension>.json`.

A per-sample file is
`{"file_name": "subdir/image_1.png", "type": "image" | "video" | "frame", "metadata": {...}}`;
each schema field's value is found by following its dotted path into `metadata`. Semantics:

- A missing file, a missing key or a `null` value takes the field's `defaultValue`.
- A value of the wrong type is a problem naming the file and the key; the sample then falls
  back as if the key were missing.
- A file that is not an object with exactly those three keys, whose `file_name` does not match
  its own path, or whose `type` does not fit the sample, is skipped and reported.
- Video frames (`clips/a-000-mp4.png` of `clips/a.mp4`) inherit the metadata of their video's
  file (`clips/a.json`, type `video`), key by key; a frame's own file (`clips/a-000-mp4.json`,
  type `frame`) overrides it.
- Files that belong to no input file are reported and not read. Files of input files the run
  does not select from (corrupt, duplicates, unchanged in a datapool rerun, left out by
  relevant filenames: `sample_files.UnreadInputs`) are not read and not reported, only counted
  by reason: `n_files == n_files_read + n_files_skipped + sum(not_read.values())`.
- Keys of `metadata` that the schema does not name are ignored.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lightly_ray.formats.jsonfile import parse_json
from lightly_ray.formats.metadata_schema import (
    METADATA_FOLDER,
    MetadataField,
    convert_value,
    read_metadata_schema,
)
from lightly_ray.formats.problems import FieldError, FormatProblem, child_key, expected
from lightly_ray.formats.sample_files import check_file_name, list_sample_files, split_known_files, stem
from lightly_ray.formats.values import as_object
from lightly_ray.storage import Location

DEFAULT_READ_THREADS = 16
SAMPLE_TYPES = ("image", "video", "frame")

Value = float | int | str | bool


@dataclass
class MetadataColumns:
    """Custom metadata of the samples of a run, one column per schema field.

    Attributes:
        fields: The schema fields (empty without a schema).
        sample_names: The samples, in the order of every column.
        columns: By schema path: float64 arrays for numeric fields, object arrays (int, str or
            bool items) for categorical fields.
        problems: Skipped files and values of the wrong type.
        n_files: Per-sample and per-video files found in the metadata folder.
        n_files_read: Per-sample and per-video files read without a file-level problem.
        n_files_skipped: Files skipped for a file-level problem (one problem each).
        not_read: Files of input files the run does not select from, by reason
            (`sample_files.UnreadInputs`): neither read nor problems.

    """

    fields: list[MetadataField]
    sample_names: Sequence[str]
    columns: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    problems: list[FormatProblem] = field(default_factory=list)
    n_files: int = 0
    n_files_read: int = 0
    n_files_skipped: int = 0
    not_read: dict[str, int] = field(default_factory=dict)


def read_metadata(
    location: Location,
    sample_names: Sequence[str],
    video_names: Sequence[str | None] | None = None,
    *,
    schema: list[MetadataField] | None = None,
    threads: int = DEFAULT_READ_THREADS,
    elsewhere: Container[str] = (),
) -> MetadataColumns:
    """Read the custom metadata of every sample.

    Args:
        location: The lightly location.
        sample_names: Image names and frame names.
        video_names: For each sample, the name of its video (`clips/a.mp4`) when it is a frame,
            else None. None when every sample is an image.
        schema: The schema, when already read; else `.lightly/metadata/schema.json` is read.
        threads: Files read concurrently.
        elsewhere: Stems of input files the run does not select from (an
            `sample_files.UnreadInputs` names why): their metadata files are neither read nor
            reported, only counted in `not_read`.

    Returns:
        The columns; without a schema, no columns.

    Raises:
        InputFormatError: When the schema is invalid.
        ValueError: When `video_names` and `sample_names` differ in length.

    """
    if video_names is not None and len(video_names) != len(sample_names):
        raise ValueError(f"got {len(video_names)} video names for {len(sample_names)} samples")
    fields = schema if schema is not None else read_metadata_schema(location)
    # The caller's names are kept, not copied (the run's candidates, Arrow strings).
    result = MetadataColumns(fields=fields or [], sample_names=sample_names)
    if not fields:
        return result
    videos: Sequence[str | None] = video_names if video_names is not None else [None] * len(sample_names)

    # Which sample (or video) each file stem may describe, and with which `type`.
    wanted: dict[str, dict[str, str]] = {}
    for name, video in zip(sample_names, videos, strict=True):
        wanted.setdefault(stem(name), {})[name] = "image" if video is None else "frame"
        if video is not None:
            wanted.setdefault(stem(video), {})[video] = "video"

    files = list_sample_files(location, METADATA_FOLDER, skip=("schema.json",))
    split = split_known_files(files, wanted, "an input sample or video", elsewhere=elsewhere)
    result.n_files, result.not_read = len(files), split.not_read
    result.problems += split.problems
    result.n_files_skipped = len(split.problems)

    def load(item: tuple[str, str]) -> tuple[str, str, dict[str, Value], list[FormatProblem]] | FormatProblem:
        path, file_stem = item
        try:
            data = parse_json(location.read_bytes(path))
            name, values, problems = _parse_metadata_file(data, path, wanted[file_stem], file_stem, fields)
        except FieldError as error:
            return error.to_problem(path)
        except FileNotFoundError:
            return FormatProblem(
                file=path, key="", message="expected a file, but it disappeared while reading"
            )
        return name, path, values, problems

    values_of: dict[str, dict[str, Value]] = {}
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for outcome in pool.map(load, split.to_read):
            if isinstance(outcome, FormatProblem):
                result.problems.append(outcome)
                result.n_files_skipped += 1
                continue
            name, _, values, problems = outcome
            result.problems.extend(problems)
            values_of[name] = values
            result.n_files_read += 1

    empty: dict[str, Value] = {}
    for metadata_field in fields:
        items: list[Value] = []
        for name, video in zip(sample_names, videos, strict=True):
            own = values_of.get(name, empty)
            if metadata_field.path in own:
                items.append(own[metadata_field.path])
                continue
            inherited = values_of.get(video, empty) if video is not None else empty
            items.append(inherited.get(metadata_field.path, metadata_field.default))
        result.columns[metadata_field.path] = _column(items, metadata_field)
    return result


def _parse_metadata_file(
    data: Any, path: str, candidates: dict[str, str], file_stem: str, fields: list[MetadataField]
) -> tuple[str, dict[str, Value], list[FormatProblem]]:
    body = as_object(data, "", required=("file_name", "type", "metadata"))
    name = check_file_name(body["file_name"], "file_name", file_stem)
    if name not in candidates:
        known = ", ".join(f"'{candidate}'" for candidate in sorted(candidates))
        raise FieldError(
            "file_name", f"expected the name of an input sample or video ({known}), got '{name}'"
        )
    sample_type = body["type"]
    if sample_type not in SAMPLE_TYPES:
        raise FieldError("type", expected("one of image, video, frame", sample_type))
    if sample_type != candidates[name]:
        raise FieldError("type", f"expected '{candidates[name]}' for '{name}', got '{sample_type}'")
    metadata = body["metadata"]
    if not isinstance(metadata, dict):
        raise FieldError("metadata", expected("an object", metadata))
    values: dict[str, Value] = {}
    problems: list[FormatProblem] = []
    for metadata_field in fields:
        try:
            value = _lookup(metadata, metadata_field.path)
            if value is not None:
                values[metadata_field.path] = convert_value(
                    value, metadata_field.value_type, child_key("metadata", metadata_field.path)
                )
        except FieldError as error:
            problems.append(error.to_problem(path))
    return name, values, problems


def _lookup(metadata: dict[str, Any], path: str) -> Any:
    """The value at a dotted path; None when a key is missing."""
    node: Any = metadata
    walked = "metadata"
    for part in path.split("."):
        if not isinstance(node, dict):
            raise FieldError(
                walked, expected(f"an object holding '{part}' (for the schema path '{path}')", node)
            )
        if part not in node:
            return None
        node = node[part]
        walked = child_key(walked, part)
    return node


def _column(items: list[Value], metadata_field: MetadataField) -> npt.NDArray[Any]:
    if metadata_field.value_type.is_numeric:
        return np.asarray(items, dtype=np.float64)
    column = np.empty(len(items), dtype=object)
    column[:] = items
    return column
