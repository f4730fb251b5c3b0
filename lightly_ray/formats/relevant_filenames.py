r"""The relevant filenames file: which input files a run considers.

Default location `.lightly/relevant_filenames.txt` in the lightly location (or the path given by
the worker config's `relevant_filenames_file`). UTF-8 text, one entry per line; leading and
trailing whitespace and blank lines are ignored. Every path is relative to the input root and
must not start with `/`, contain `./` or `../` components, empty components (`a//b`) or
backslashes; a violation is an `InputFormatError` naming the line.

- A line without `*` names one file exactly (`subdir/image_1.png`); it may contain spaces.
- A line with `*` is a folder selection: whitespace-separated gitignore-style patterns (see
  `gitignore` for the supported syntax). The first token, the *selector*, must contain `*`; it
  is anchored at the input root, its text before the first wildcard is the prefix to list, and
  it bounds what the line can keep (`subdir/*` alone keeps everything inside `subdir/`). The
  tokens after it filter the selector's files: a pattern selects the files it matches,
  `!pattern` deselects them, and the last matching pattern decides. When the line has at least
  one pattern without `!`, a file must be selected by one to be kept; with only `!` patterns,
  everything the selector matches is kept but what they deselect. So
  `subdir/* subdir/image_4* !subdir/image_41.png` keeps the files of `subdir/` that start with
  `image_4`, except `image_41.png`.
- A file is relevant when any line keeps it.

Lines starting with `#` are entries, not comments: a file name may start with `#`, and
gitignore's escape for that (`\#`) would clash with the ban on backslashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.errors import InputFormatError
from lightly_ray.formats.gitignore import (
    GlobPattern,
    compile_pattern,
    literal_prefix,
    parent_folders,
)
from lightly_ray.formats.problems import describe
from lightly_ray.storage import Location

DEFAULT_RELEVANT_FILENAMES_FILE = ".lightly/relevant_filenames.txt"
SHOWN_INVALID_LINES = 10  # a file of wrong lines is named by its first ten


@dataclass
class SelectionLine:
    """One line with `*`: a selector and the filter patterns that follow it.

    Attributes:
        line: 1-based line number in the file.
        selector: The first token, anchored at the input root.
        filters: The patterns after it, in order (`!` ones deselect).
        prefix: The selector's text before its first wildcard: every kept file starts with it.

    """

    line: int
    selector: GlobPattern
    filters: tuple[GlobPattern, ...]
    prefix: str

    def covers(self, name: str) -> bool:
        """Whether the selector matches `name` (the line decides whether it is kept)."""
        return name.startswith(self.prefix) and self.selector.matches(name)

    def keeps(self, name: str) -> bool:
        """Whether this line keeps the file `name`."""
        if not self.covers(name):
            return False
        kept = all(pattern.negated for pattern in self.filters)
        for pattern in self.filters:
            if pattern.matches(name):
                kept = not pattern.negated
        return kept


@dataclass
class RelevantFilenames:
    """The parsed relevant filenames file.

    Attributes:
        source: The file it was read from, for messages.
        files: Files named exactly.
        lines: Folder selections (lines with `*`).

    """

    source: str
    files: frozenset[str] = field(default_factory=frozenset)
    lines: tuple[SelectionLine, ...] = ()

    def matches(self, name: str) -> bool:
        """Whether the input file `name` (relative to the input root) is relevant."""
        return name in self.files or any(line.keeps(name) for line in self.lines)

    def leaves_out(self, name: str) -> bool:
        """Whether a line selects `name` and yet no line keeps it (a `!` pattern, or a filter it misses)."""
        return not self.matches(name) and any(line.covers(name) for line in self.lines)

    def mask(self, names: Sequence[str]) -> npt.NDArray[np.bool_]:
        """`matches` for many names at once: a boolean array in the order of `names`."""
        if not names:
            return np.zeros(0, dtype=bool)
        array = pa.array(names, type=pa.string())
        keep = pc.is_in(array, value_set=pa.array(sorted(self.files), type=pa.string())).to_numpy(
            zero_copy_only=False
        )
        keep = np.array(keep, dtype=bool)
        if not self.lines:
            return keep
        candidates = np.zeros(len(names), dtype=bool)
        for line in self.lines:
            if not line.prefix:
                candidates[:] = True
                break
            candidates |= pc.starts_with(array, pattern=line.prefix).to_numpy(zero_copy_only=False)
        for index in np.flatnonzero(candidates & ~keep).tolist():
            name = names[index]
            keep[index] = any(line.keeps(name) for line in self.lines)
        return keep

    def filter(self, names: Sequence[str]) -> list[str]:
        """The relevant names, in their order."""
        return [name for name, keep in zip(names, self.mask(names), strict=True) if keep]

    @property
    def prefixes(self) -> list[str]:
        """The string prefixes of the folder selections (text before the first wildcard)."""
        return sorted({line.prefix for line in self.lines})

    def listing_folders(self) -> list[str]:
        """The fewest folders to list (recursively) to find every relevant file.

        Exact files count with their folder; an empty string stands for the whole input. A lister
        may instead check exact `files` one by one where that is cheaper than listing.
        """
        folders = {_folder_of(name) for name in self.files} | {_folder_of(line.prefix) for line in self.lines}
        if "" in folders:
            return [""]
        return sorted(
            folder for folder in folders if not any(outer in folders for outer in parent_folders(folder))
        )

    def missing_files(self, names: Iterable[str]) -> list[str]:
        """The exactly named files that are not among `names` (for the report)."""
        return sorted(self.files.difference(names))


def read_relevant_filenames(location: Location, path: str | None = None) -> RelevantFilenames | None:
    """Read the relevant filenames file from the lightly location.

    Args:
        location: The lightly location.
        path: The configured `relevant_filenames_file`; None for the default path.

    Returns:
        The parsed file, or None when `path` is None and the default file does not exist.

    Raises:
        InputFormatError: When a configured file does not exist or the file is invalid.

    """
    source = path if path is not None else DEFAULT_RELEVANT_FILENAMES_FILE
    try:
        data = location.read_bytes(source)
    except FileNotFoundError:
        if path is None:
            return None
        raise InputFormatError(
            f"{source}: expected the relevant filenames file (worker_config.relevant_filenames_file), "
            "but it does not exist in the lightly location"
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputFormatError(
            f"{source}: expected UTF-8 text, got an undecodable byte at offset {error.start}"
        ) from None
    return parse_relevant_filenames(text, source)


def parse_relevant_filenames(text: str, source: str = DEFAULT_RELEVANT_FILENAMES_FILE) -> RelevantFilenames:
    """Parse the content of a relevant filenames file.

    Args:
        text: The file's text.
        source: Its path, for messages.

    Raises:
        InputFormatError: Naming every invalid line (the first ten, and how many more), or when
            the file has no entry.

    """
    files: set[str] = set()
    lines: list[SelectionLine] = []
    invalid: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.strip()
        if not entry:
            continue
        try:
            if "*" not in entry:
                files.add(_check_path(entry, source, number, pattern=False))
            else:
                lines.append(_selection_line(entry, source, number))
        except InputFormatError as error:
            invalid.append(str(error))
    if invalid:
        shown = "\n".join(invalid[:SHOWN_INVALID_LINES])
        more = len(invalid) - SHOWN_INVALID_LINES
        tail = f"\n... and {more} more invalid lines in {source}" if more > 0 else ""
        raise InputFormatError(shown + tail)
    if not files and not lines:
        raise InputFormatError(f"{source}: expected at least one file name or pattern, got an empty file")
    return RelevantFilenames(source=source, files=frozenset(files), lines=tuple(lines))


def _selection_line(entry: str, source: str, number: int) -> SelectionLine:
    """One line with a `*`: a selector, then patterns (`!` or not) that leave names out."""
    tokens = entry.split()
    selector = tokens[0]
    if selector.startswith("!") or "*" not in selector:
        raise InputFormatError(
            f"{source}: line {number}: expected the line to start with a selector containing '*' "
            f"(such as 'subdir/*'), got {describe(selector)}"
        )
    _check_path(selector, source, number, pattern=True)
    ignore: list[GlobPattern] = []
    for token in tokens[1:]:
        body = token[1:] if token.startswith("!") else token
        if not body:
            raise InputFormatError(f"{source}: line {number}: expected a pattern after '!', got nothing")
        _check_path(body, source, number, pattern=True)
        ignore.append(compile_pattern(token))
    return SelectionLine(
        line=number,
        selector=compile_pattern(selector, anchored=True),
        filters=tuple(ignore),
        prefix=literal_prefix(selector),
    )


def _check_path(entry: str, source: str, number: int, *, pattern: bool) -> str:
    where = f"{source}: line {number}"
    if entry.startswith("/") or (len(entry) > 1 and entry[1] == ":"):
        raise InputFormatError(
            f"{where}: expected a path relative to the input root, got the absolute path {describe(entry)}"
        )
    if "\\" in entry:
        raise InputFormatError(
            f"{where}: expected '/' as the folder separator, got a backslash in {describe(entry)}"
        )
    body = entry[:-1] if pattern and entry.endswith("/") else entry
    parts = body.split("/")
    if any(part in (".", "..") for part in parts):
        raise InputFormatError(
            f"{where}: expected a path relative to the input root without './' or '../', "
            f"got {describe(entry)}"
        )
    if any(not part for part in parts):
        what = "an empty folder name ('//')" if not entry.endswith("/") else "a folder, not a file"
        raise InputFormatError(f"{where}: expected a file path, got {what} in {describe(entry)}")
    return entry


def _folder_of(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""
