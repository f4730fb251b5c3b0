"""Gitignore-style patterns, matched against paths relative to the input root.

What is supported (a subset of gitignore, with the same meaning where it overlaps):

- `*` matches any run of characters except `/`; `?` matches one character except `/`;
  `[abc]`, `[a-z]`, `[!a-z]` and `[^a-z]` match one character of (or not of) a class, never `/`.
  A `]` right after `[` (or `[!`) is a member of the class; a `[` without a closing `]` is literal.
- `**` as a whole path segment matches across folders: a leading `**/` matches in every
  folder (`**/a.png` is `a.png` anywhere), a trailing `/**` matches everything inside a folder,
  and `a/**/b` matches `a/b`, `a/x/b`, `a/x/y/b`. Any other `**` (such as `a**b`) is a plain `*`.
- A pattern without a `/` (other than a trailing one) matches a file or folder name at any
  depth (`*.jpg` matches `x.jpg` and `sub/x.jpg`); a pattern with a `/` is matched against the
  whole path from the input root (`subdir/*.png` does not match `a/subdir/x.png`).
- A trailing `/` makes a pattern match folders only.
- A pattern that matches a folder matches every path inside it (`subdir/*` matches
  `subdir/a/b.png`, because `subdir/a` matches).
- A list of patterns is evaluated as in a `.gitignore`: the last pattern that matches decides;
  a pattern marks a path as ignored, the same pattern prefixed with `!` as not ignored. As in
  git, a path inside an ignored folder stays ignored whatever later `!` patterns say.

Not supported: backslash escapes, a leading `/` (paths are always relative to the input root),
`#` comments, and trailing-space escapes. Matching is case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

WILDCARDS = "*?["


@dataclass(frozen=True)
class GlobPattern:
    """One compiled pattern.

    Attributes:
        text: The pattern as written, without a leading `!`.
        negated: Written with a leading `!` (re-includes in an ignore list).
        folders_only: Written with a trailing `/`.
        regex: Matches a whole path that the pattern matches by itself (not through a folder).

    """

    text: str
    negated: bool
    folders_only: bool
    regex: re.Pattern[str]

    def matches_self(self, path: str, *, is_folder: bool) -> bool:
        """Whether the pattern matches `path` itself (a file, or a folder when `is_folder`)."""
        if self.folders_only and not is_folder:
            return False
        return self.regex.fullmatch(path) is not None

    def matches(self, path: str) -> bool:
        """Whether the pattern matches the file `path` or one of the folders that hold it."""
        if self.matches_self(path, is_folder=False):
            return True
        return any(self.matches_self(folder, is_folder=True) for folder in parent_folders(path))


def compile_pattern(pattern: str, *, anchored: bool = False) -> GlobPattern:
    """Compile one pattern (optionally with a leading `!` and a trailing `/`).

    Args:
        pattern: The pattern text.
        anchored: Match from the input root even when the pattern has no `/`.

    """
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    folders_only = body.endswith("/")
    body = body.rstrip("/")
    has_slash = "/" in body
    regex = translate(body)
    if not has_slash and not anchored and body != "**":
        regex = "(?:.*/)?" + regex
    return GlobPattern(
        text=body + ("/" if folders_only else ""),
        negated=negated,
        folders_only=folders_only,
        regex=re.compile(regex, re.DOTALL),
    )


def translate(pattern: str) -> str:
    """The regular expression (for `fullmatch`) of a pattern without `!` or trailing `/`."""
    segments: list[str] = []
    for segment in pattern.split("/"):
        if segment == "**" and segments and segments[-1] == "**":
            continue  # `a/**/**/b` is `a/**/b`
        segments.append(segment)
    if segments == ["**"]:
        return ".*"
    out: list[str] = []
    need_slash = False
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "**":
            if index == 0:
                out.append("(?:.*/)?")
            elif index == last:
                out.append("/.*")
            else:
                out.append("/(?:.*/)?")
            need_slash = False
            continue
        if need_slash:
            out.append("/")
        out.append(_translate_segment(segment))
        need_slash = True
    return "".join(out)


def _translate_segment(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "*":
            while index + 1 < len(segment) and segment[index + 1] == "*":
                index += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end, klass = _character_class(segment, index)
            if klass is None:
                out.append(re.escape(char))
            else:
                out.append(klass)
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def _character_class(segment: str, start: int) -> tuple[int, str | None]:
    """Translate the class starting at `segment[start] == '['`: (index of its `]`, regex) or (start, None)."""
    index = start + 1
    negate = index < len(segment) and segment[index] in "!^"
    if negate:
        index += 1
    members_start = index
    if index < len(segment) and segment[index] == "]":
        index += 1  # a leading `]` is a member
    while index < len(segment) and segment[index] != "]":
        index += 1
    if index >= len(segment):
        return start, None
    members = segment[members_start:index]
    escaped = "".join("\\" + char if char in "\\^[]" else char for char in members)
    return index, f"[^/{escaped}]" if negate else f"[{escaped}]"


def parent_folders(path: str) -> list[str]:
    """The folders holding `path`, outermost first: `a/b/c.png` -> `a`, `a/b`."""
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def literal_prefix(pattern: str) -> str:
    """The part of a pattern before its first wildcard character (`*`, `?` or `[`)."""
    cut = min(
        (index for index in (pattern.find(char) for char in WILDCARDS) if index >= 0), default=len(pattern)
    )
    return pattern[:cut]


class IgnoreList:
    """An ordered list of gitignore-style patterns, answering whether a file is ignored.

    Folder verdicts are cached, so that checking many files of the same folders is cheap.
    """

    def __init__(self, patterns: Sequence[GlobPattern]) -> None:
        self.patterns = tuple(patterns)
        self._folders: dict[str, bool] = {}

    def is_ignored(self, path: str) -> bool:
        """Whether the file `path` is ignored (by a folder holding it, or by the last matching pattern)."""
        if not self.patterns:
            return False
        if any(self._folder_ignored(folder) for folder in parent_folders(path)):
            return True
        return self._verdict(path, is_folder=False)

    def _folder_ignored(self, folder: str) -> bool:
        cached = self._folders.get(folder)
        if cached is None:
            cached = self._verdict(folder, is_folder=True)
            self._folders[folder] = cached
        return cached

    def _verdict(self, path: str, *, is_folder: bool) -> bool:
        for pattern in reversed(self.patterns):
            if pattern.matches_self(path, is_folder=is_folder):
                return not pattern.negated
        return False
