"""Which input files are samples: the file extensions a run reads, and what it says of the others.

Kept free of Ray and torch, so that the checks before a run (`preflight.py`) can use it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
SAMPLE_EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS


def is_hidden(path: str) -> bool:
    """Whether a path lies in a hidden folder or is a hidden file (a part starts with a dot)."""
    return any(part.startswith(".") for part in path.rstrip("/").split("/"))


def is_sample_file(path: str) -> bool:
    """Whether a listed path is read by a run: a visible image or video file (extension in any case)."""
    return path.lower().endswith(SAMPLE_EXTENSIONS) and not is_hidden(path)


def is_video_file(path: str) -> bool:
    """Whether a path names a video (by its extension, in any case)."""
    return path.lower().endswith(VIDEO_EXTENSIONS)


def extension_of(path: str) -> str:
    """A file's extension in lower case with its dot ('.mp4'), or '(none)'."""
    stem, dot, extension = path.rsplit("/", 1)[-1].rpartition(".")
    return f".{extension.lower()}" if dot and stem else "(none)"


def extension_counts(paths: Iterable[str]) -> Counter[str]:
    """How many paths have each extension (see `extension_of`)."""
    return Counter(extension_of(path) for path in paths)


def describe_counts(counts: Counter[str], shown: int = 6) -> str:
    """'12 .txt, 3 .mp4 and 2 other kinds', most common first (ties by name)."""
    common = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    text = ", ".join(f"{count} {extension}" for extension, count in common[:shown])
    rest = len(common) - shown
    return text + (f" and {rest} other kinds" if rest > 0 else "")
