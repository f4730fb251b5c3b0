"""Frame names: `{video path without extension}-{frame index}-{extension}.png`.

The index is 0-based in decode order (the order a sequential decode returns the frames, which
is presentation order) and zero-padded to the number of digits of the frame count: a 200-frame
`clips/a.mp4` has frames `clips/a-000-mp4.png` ... `clips/a-199-mp4.png` (FORMATS.md section 3).
Per-frame predictions and metadata use the same name with `.json`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

FRAME_SUFFIX = ".png"


def frame_name(video: str, index: int, frame_count: int) -> str:
    """The sample name of one frame.

    Args:
        video: The video's path relative to the input, e.g. `clips/a.mp4`.
        index: The frame's 0-based index.
        frame_count: The video's number of frames (sets the zero padding).

    Returns:
        e.g. `clips/a-007-mp4.png` for frame 7 of a 200-frame `clips/a.mp4`.

    Raises:
        ValueError: For an index outside the video or a path without an extension.

    """
    if not 0 <= index < frame_count:
        raise ValueError(f"frame {index} is outside '{video}', which has {frame_count} frames")
    stem, dot, extension = video.rpartition(".")
    if not dot or not stem or "/" in extension:
        raise ValueError(f"video path '{video}' has no extension")
    return f"{stem}-{index:0{len(str(frame_count))}d}-{extension}{FRAME_SUFFIX}"


def frame_names(video: str, frame_count: int) -> list[str]:
    """The names of every frame of a video, in index order."""
    return [frame_name(video, index, frame_count) for index in range(frame_count)]


_FRAME_PATTERN = re.compile(r"^(?P<stem>.+)-(?P<index>\d+)-(?P<extension>[^/.-]+)\.png$")


def frames_named_like(images: Iterable[str], frame_counts: Mapping[str, int]) -> list[tuple[str, str]]:
    """Image files whose name is the name of a video's frame: `(image, video)` pairs.

    A frame is a sample named after its video (`clips/a-007-mp4.png`); an image file of that
    name beside the video (frames extracted earlier and copied next to it) would be a second
    sample of the same name.

    Args:
        images: Image file names of the input.
        frame_counts: The frame count of every video of the input, by its path.

    """
    found = []
    for image in images:
        match = _FRAME_PATTERN.match(image)
        if match is None:
            continue
        video = f"{match['stem']}.{match['extension']}"
        frames, index = frame_counts.get(video), int(match["index"])
        if frames is not None and index < frames and frame_name(video, index, frames) == image:
            found.append((image, video))
    return found
