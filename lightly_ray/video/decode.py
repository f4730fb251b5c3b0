"""Decode one segment of a video, one frame at a time, with exact frame indices.

The decoder returns frames in presentation order; a frame's index is the position of its
timestamp in the video's index (`segments.VideoIndex`). Decoding starts at a keyframe before
the segment (`segments.preroll_start`), drops the frames before the segment's first timestamp
and stops at the next segment's first timestamp, so consecutive segments give every frame once.
Frames stream: one decoded frame is held at a time, however long the video. A packet that fails
to decode is recorded and skipped; its frames are then missing from the output, and the caller
lists them as corrupt samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import numpy as np
import numpy.typing as npt

from lightly_ray.video.segments import Segment, SegmentPlan, VideoError, VideoIndex, VideoSource


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame.

    Attributes:
        index: The frame's 0-based index in the video.
        pts: Its presentation timestamp, in the stream's time base.
        seconds: Its time in seconds.
        image: Array of shape (height, width, 3), uint8 RGB.

    """

    index: int
    pts: int
    seconds: float
    image: npt.NDArray[np.uint8]


@dataclass
class SegmentDecode:
    """What decoding one segment met: the frames it did not return, and why.

    Attributes:
        segment: The segment.
        returned: Indices of the frames returned, in order.
        errors: Messages of the packets that failed to decode.

    """

    segment: Segment
    returned: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def missing(self) -> list[int]:
        """The segment's frames that were not returned (a decode error lost them)."""
        seen = set(self.returned)
        return [index for index in range(self.segment.start, self.segment.stop) if index not in seen]


def decode_segment(
    source: VideoSource, index: VideoIndex, segment: Segment, report: SegmentDecode | None = None
) -> Iterator[DecodedFrame]:
    """Decode the frames [segment.start, segment.stop) of an indexed video, in index order.

    Args:
        source: A path or a seekable binary file object (opened anew here).
        index: The video's index.
        segment: The frames to decode.
        report: Filled with the returned indices and the decode errors when given.

    Yields:
        Each frame of the segment that decodes, in index order.

    Raises:
        VideoError: When the file cannot be opened any more.

    """
    return decode_plan(source, SegmentPlan.of(index, segment), report)


def decode_plan(
    source: VideoSource, plan: SegmentPlan, report: SegmentDecode | None = None
) -> Iterator[DecodedFrame]:
    """Decode the frames of a segment plan (see `decode_segment`)."""
    report = report if report is not None else SegmentDecode(plan.segment)
    start_pts = int(plan.pts[0])
    time_base = float(plan.time_base)
    try:
        container = av.open(source, mode="r")
    except av.error.FFmpegError as error:
        raise VideoError(f"cannot be opened as a video ({error})") from None
    with container:
        stream = container.streams.video[0]
        if plan.seek_pts is not None:
            container.seek(plan.seek_pts, stream=stream, backward=True, any_frame=False)
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as error:
                report.errors.append(f"packet at {packet.pts}: {error}")
                continue
            for frame in frames:
                stamp = frame.pts
                if stamp is None or stamp < start_pts:
                    continue
                if plan.stop_pts is not None and stamp >= plan.stop_pts:
                    return
                position = int(np.searchsorted(plan.pts, stamp))
                if position >= len(plan.pts) or plan.pts[position] != stamp:
                    continue  # not a frame the index knows (it was not in the demuxed packets)
                report.returned.append(plan.start + position)
                yield DecodedFrame(
                    index=plan.start + position,
                    pts=int(stamp),
                    seconds=stamp * time_base,
                    image=_rgb(frame),
                )


def decode_all(source: VideoSource) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
    """Every frame of a video by one plain sequential decode: (timestamp, RGB image).

    The reference the segments are checked against, and the plain loop of the benchmark.
    """
    with av.open(source, mode="r") as container:
        for frame in container.decode(video=0):
            if frame.pts is not None:
                yield int(frame.pts), _rgb(frame)


def _rgb(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
