"""A video's frames, indexed in one demux pass, and cut into segments at keyframes.

Demuxing reads the container's packets without decoding them (a few milliseconds for a clip of
minutes). Each video packet holds one frame, so the packets' presentation timestamps, sorted,
are the frames' timestamps in the order a sequential decode returns them: frame i is the one
with the i-th smallest timestamp. That gives every frame its index, name and time before any
pixel is decoded, and lets a segment [start, stop) be decoded by itself: from the keyframe
before it, keeping exactly the frames whose timestamps fall in the segment (`decode.py`).
Segments start at keyframes, so a task decodes little beyond its own frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import IO

import av
import numpy as np
import numpy.typing as npt

from lightly_ray.errors import LightlyRayError

VideoSource = str | IO[bytes]


class VideoError(LightlyRayError):
    """A video cannot be opened or indexed; the run lists it under `corrupt_videos`."""


@dataclass(frozen=True)
class VideoIndex:
    """What one demux pass learns of a video's first video stream.

    Attributes:
        pts: Array of shape (n_frames,), int64, ascending: the timestamp of frame i, in
            `time_base` units.
        keyframes: Array, int64, ascending: the indices of the frames decoding can start at.
        time_base: Seconds per timestamp unit.
        width: Frame width in pixels.
        height: Frame height in pixels.

    """

    pts: npt.NDArray[np.int64]
    keyframes: npt.NDArray[np.int64]
    time_base: Fraction
    width: int
    height: int

    @property
    def frame_count(self) -> int:
        """The number of frames."""
        return len(self.pts)

    def seconds(self) -> npt.NDArray[np.float64]:
        """Each frame's time in seconds (its timestamp times the time base)."""
        return np.asarray(self.pts * float(self.time_base), dtype=np.float64)


@dataclass(frozen=True)
class Segment:
    """Frames [start, stop) of one video, decodable on their own."""

    start: int
    stop: int

    @property
    def frame_count(self) -> int:
        """The number of frames in the segment."""
        return self.stop - self.start


@dataclass(frozen=True)
class SegmentPlan:
    """What decoding one segment needs, without the whole index (it travels in a row).

    Attributes:
        start: Index of the segment's first frame.
        pts: Array, int64, ascending: the timestamps of the segment's frames.
        stop_pts: The timestamp of the first frame after the segment; None at the end.
        seek_pts: Where to seek before decoding; None to decode from the start.
        time_base: Seconds per timestamp unit.

    """

    start: int
    pts: npt.NDArray[np.int64]
    stop_pts: int | None
    seek_pts: int | None
    time_base: Fraction

    @classmethod
    def of(cls, index: VideoIndex, segment: Segment) -> SegmentPlan:
        """The plan of one segment of an indexed video."""
        return cls(
            start=segment.start,
            pts=index.pts[segment.start : segment.stop],
            stop_pts=int(index.pts[segment.stop]) if segment.stop < index.frame_count else None,
            seek_pts=int(index.pts[preroll_start(index, segment)]) if segment.start > 0 else None,
            time_base=index.time_base,
        )

    @property
    def segment(self) -> Segment:
        """The frames the plan decodes."""
        return Segment(self.start, self.start + len(self.pts))


def index_video(source: VideoSource, name: str = "") -> VideoIndex:
    """Index a video's frames by demuxing its first video stream (no decoding).

    Args:
        source: A path or a seekable binary file object.
        name: The video's name, for messages.

    Returns:
        The frames' timestamps and the keyframes.

    Raises:
        VideoError: When the file cannot be opened, has no video stream or no frames, or its
            frames do not have distinct timestamps.

    """
    label = name or (source if isinstance(source, str) else "video")
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.video:
                raise VideoError(f"{label}: the file has no video stream")
            stream = container.streams.video[0]
            stamps: list[int] = []
            key: list[bool] = []
            for packet in container.demux(stream):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if packet.size == 0 or stamp is None:
                    continue
                stamps.append(int(stamp))
                key.append(bool(packet.is_keyframe))
            time_base = stream.time_base or Fraction(1, 1)
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    except av.error.FFmpegError as error:
        raise VideoError(f"{label}: cannot be opened as a video ({error})") from None
    if not stamps:
        raise VideoError(f"{label}: the video stream holds no frames")
    pts = np.asarray(stamps, dtype=np.int64)
    order = np.argsort(pts, kind="stable")
    pts = pts[order]
    if (np.diff(pts) == 0).any():
        raise VideoError(f"{label}: several frames share a timestamp, so their order is unknown")
    keyframes = np.flatnonzero(np.asarray(key, dtype=bool)[order]).astype(np.int64)
    if len(keyframes) == 0 or keyframes[0] != 0:
        keyframes = np.concatenate([np.zeros(1, dtype=np.int64), keyframes])
    return VideoIndex(pts=pts, keyframes=keyframes, time_base=time_base, width=width, height=height)


def plan_segments(index: VideoIndex, frames_per_segment: int) -> list[Segment]:
    """Cut a video into segments that start at keyframes, each of about `frames_per_segment`.

    A segment ends at the first keyframe at least `frames_per_segment` frames after its start,
    so segments are never shorter than that (but the last) and longer only up to the next
    keyframe. Together they cover every frame exactly once.

    Args:
        index: The video's index.
        frames_per_segment: The smallest number of frames worth a task of its own.

    Returns:
        The segments in frame order.

    Raises:
        ValueError: For a non-positive `frames_per_segment`.

    """
    if frames_per_segment <= 0:
        raise ValueError(f"frames_per_segment must be positive, got {frames_per_segment}")
    segments: list[Segment] = []
    start = 0
    for keyframe in index.keyframes.tolist():
        if keyframe - start >= frames_per_segment:
            segments.append(Segment(start, keyframe))
            start = keyframe
    segments.append(Segment(start, index.frame_count))
    return segments


def preroll_start(index: VideoIndex, segment: Segment) -> int:
    """The frame to seek to for a segment: the keyframe before the segment's first.

    Seeking goes by the demuxer's notion of time, which some containers keep in decode order,
    where B-frames make it differ from presentation time. Aiming one keyframe earlier makes sure
    decoding starts at or before the segment's first frame; the frames before it are decoded and
    dropped. (The frames shown just before a keyframe but stored after it, the leading B-frames
    of an open GOP, belong to the previous segment, whose decode runs on into this group until
    it reaches the keyframe's timestamp.)
    """
    position = int(np.searchsorted(index.keyframes, segment.start, side="right")) - 1
    return int(index.keyframes[max(position - 1, 0)])
