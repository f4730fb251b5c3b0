"""Per-sample JSON files: where they live and which sample they belong to.

Predictions and metadata are stored one file per sample at
`<folder>/<sample path without extension>.json`, and the file's `file_name` names the sample.
Video frames are samples named `{video path without extension}-{index}-{extension}.png`, so
`clips/a-000-mp4.png` has its file at `<folder>/clips/a-000-mp4.json`.
"""

from __future__ import annotations

import posixpath
from bisect import bisect_left
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.errors import UnsafePathError
from lightly_ray.formats.problems import FieldError, FormatProblem, expected
from lightly_ray.formats.relevant_filenames import RelevantFilenames
from lightly_ray.pipeline.input_kinds import SAMPLE_EXTENSIONS
from lightly_ray.storage import Location, safe_relative_path

# Reasons (report keys) for per-sample files that are not read (`UnreadInputs`).
NOT_READ = "notRead"
NOT_RELEVANT = "notRelevant"
UNCHANGED_DATAPOOL = "unchangedDatapool"
CORRUPT = "corrupt"
DUPLICATE = "duplicate"
NOT_EMBEDDED = "notEmbedded"  # no row in the embeddings CSV (`worker_config.embeddings`)


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


@dataclass
class KnownFiles:
    """Listed sample files sorted by what a read does with them (`split_known_files`).

    Attributes:
        to_read: (path, stem) pairs of files of known samples, sorted by path.
        problems: One per file that belongs to no input file at all.
        not_read: Files of input files the run does not select from, counted by reason
            (`UnreadInputs.reason`): neither read nor reported.
    """

    to_read: list[tuple[str, str]] = field(default_factory=list)
    problems: list[FormatProblem] = field(default_factory=list)
    not_read: dict[str, int] = field(default_factory=dict)


def split_known_files(
    files: dict[str, str],
    known_stems: Container[str],
    what: str,
    nobody: str = "none",
    elsewhere: Container[str] = (),
) -> KnownFiles:
    """Split listed sample files into those of known samples, those not read, and problems.

    Args:
        files: File stem -> file path, from `list_sample_files`.
        known_stems: Stems of the samples (or videos) a file may describe.
        what: What a file should belong to, for the message, e.g. "an input sample".
        nobody: Who, in the message, has no such path, e.g. "no input sample".
        elsewhere: Stems of input files the run does not select from: their files are neither
            read nor reported, but counted by reason. An `UnreadInputs` names the reason
            (corrupt, duplicate, ...); any other container counts as `notRead`.

    Returns:
        The files to read, those not read by reason, and one problem per file that belongs to
        no input file.
    """
    unread = UnreadInputs.of(elsewhere)
    split = KnownFiles()
    for file_stem, path in sorted(files.items(), key=lambda item: item[1]):
        if file_stem in known_stems:
            split.to_read.append((path, file_stem))
            continue
        reason = unread.reason(file_stem)
        if reason is not None:
            split.not_read[reason] = split.not_read.get(reason, 0) + 1
            continue
        message = (
            f"expected a file of {what}, but {nobody} has the path without extension "
            f"'{file_stem}'; the file is ignored"
        )
        split.problems.append(FormatProblem(file=path, key="", message=message))
    return split


class UnreadInputs:
    """Input files a run lists but does not select from, and files relevant filenames leave out.

    Their per-sample files (predictions, metadata) are neither read nor reported as problems: a
    user who finds `photos/broken.jpg` in the input must not read that no input file has that
    path. Each group has a reason, the key under which report.json counts the files
    (`filesNotRead`): `unchangedDatapool`, `corrupt`, `duplicate`, `notEmbedded`, `notRelevant` (no sample or
    video of that path is kept by the relevant filenames file) or `notRead` (any other).

    Args:
        groups: (reason, stems) pairs, asked in order; `OtherInputFiles` holds the stems of names.
        relevant: The relevant filenames filter the run's listing was made with (asked only
            for a file that belongs to no group and no known sample); None: every file is relevant.
    """

    def __init__(
        self,
        groups: Sequence[tuple[str, Container[str]]] = (),
        relevant: RelevantFilenames | None = None,
    ) -> None:
        self.groups = list(groups)
        self._relevant = relevant

    @classmethod
    def of(cls, elsewhere: Container[str]) -> UnreadInputs:
        """`elsewhere` itself when it is an `UnreadInputs`, else one group `notRead`."""
        if isinstance(elsewhere, UnreadInputs):
            return elsewhere
        return cls([(NOT_READ, elsewhere)])

    def reason(self, file_stem: str) -> str | None:
        """Why the files of this stem are not read; None when no input file explains it."""
        for reason, stems in self.groups:
            if file_stem in stems:
                return reason
        relevant = self._relevant
        if relevant is not None and _left_out(relevant, _input_names(file_stem)):
            return NOT_RELEVANT
        return None

    def __contains__(self, file_stem: object) -> bool:
        return isinstance(file_stem, str) and self.reason(file_stem) is not None


def _left_out(relevant: RelevantFilenames, names: list[str]) -> bool:
    """Whether the relevant filenames leave out the input file that has one of `names`.

    Which extension the file has is not known here: a name the file lists exactly is kept, one
    that a line selects and does not keep (`* !img_01.png`) is left out, whatever other
    extensions a wildcard would keep; else the file is left out when no line keeps any name.
    """
    if any(name in relevant.files for name in names):
        return False
    if any(map(relevant.leaves_out, names)):
        return True
    return not any(map(relevant.matches, names))


def _input_names(file_stem: str) -> list[str]:
    """The input files a per-sample file of this stem may describe.

    A sample or video of any extension, or the video of a frame (`clips/a-007-mp4` -> `clips/a.mp4`).
    """
    names = [f"{file_stem}{extension}" for extension in SAMPLE_EXTENSIONS]
    names += [f"{file_stem}{extension.upper()}" for extension in SAMPLE_EXTENSIONS]
    base, _, extension = file_stem.rpartition("-")
    video, _, index = base.rpartition("-")
    if index.isdigit() and video and extension:
        names.append(f"{video}.{extension}")
    return names


class OtherInputFiles:
    """Input files a run lists but does not select from (a datapool rerun's unchanged files, corrupt ones).

    Holds the stems their per-sample files have: an image's, a video's (its own metadata file)
    and every frame's of a video (`clips/a-007-mp4` of `clips/a.mp4`, `video.names`). The names
    are sorted into Arrow arrays when first asked, and looked up by binary search: no set of
    every name is made.

    Args:
        names: The files' names (images and videos), relative to the input.
    """

    def __init__(self, names: pa.Array | pa.ChunkedArray) -> None:
        self._given = names
        self._sorted: tuple[_Strings, _Strings] | None = None

    def __contains__(self, file_stem: object) -> bool:
        if not isinstance(file_stem, str) or not len(self._given):
            return False
        if self._sorted is None:
            names = self._given.cast(pa.string())
            stems = pc.replace_substring_regex(names, r"\.[^./]*$", "")
            self._sorted = (_Strings(stems), _Strings(names))
        stems, names = self._sorted
        if file_stem in stems:
            return True
        base, _, extension = file_stem.rpartition("-")
        video, _, index = base.rpartition("-")
        return index.isdigit() and f"{video}.{extension}" in names


class _Strings:
    """Sorted strings, for `in` by binary search."""

    def __init__(self, values: pa.Array | pa.ChunkedArray) -> None:
        self.array = pc.take(values, pc.sort_indices(values))

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: int) -> str:
        return str(self.array[index].as_py())

    def __contains__(self, value: object) -> bool:
        position = bisect_left(self, value)  # type: ignore[call-overload]
        return position < len(self) and self[position] == value


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
