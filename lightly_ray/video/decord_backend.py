"""decord as a second video decoder, where it is installed (`pip install decord`).

PyAV is the default (docs/video.md says why, with numbers). decord 0.6.0 (2021) decodes a whole
video sequentially with the same pixels as PyAV, but its random access (`get_batch` after a
seek) returns wrong frames on open-GOP H.264, so a segment decoded on its own is exact only
where the stream has closed GOPs, which a demux pass cannot tell. So decord may decode whole
videos (one segment from frame 0, read sequentially), where it is exact; segments that start
inside a video are always decoded with PyAV.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import numpy as np

from lightly_ray.video.decode import DecodedFrame
from lightly_ray.video.segments import Segment, VideoSource

DEFAULT_BATCH = 16


def decord_available() -> bool:
    """Whether decord is installed."""
    return importlib.util.find_spec("decord") is not None


def decode_segment_decord(
    source: VideoSource, segment: Segment, batch: int = DEFAULT_BATCH
) -> Iterator[DecodedFrame]:
    """Decode frames [segment.start, segment.stop) with decord, `batch` frames per call.

    Args:
        source: A path or a binary file object.
        segment: The frames to decode, by decord's frame index.
        batch: Frames per `get_batch` call (decord decodes a batch in one pass).

    Yields:
        Each frame, in index order; `pts` is decord's start time in milliseconds (decord does
        not report the stream's own timestamps), `seconds` its start time.

    """
    import decord  # type: ignore[import-untyped]

    reader: Any = decord.VideoReader(source, ctx=decord.cpu(0), num_threads=1)
    stop = min(segment.stop, len(reader))
    for first in range(segment.start, stop, batch):
        indices = list(range(first, min(first + batch, stop)))
        images = reader.get_batch(indices).asnumpy()
        times = reader.get_frame_timestamp(indices)
        for position, index in enumerate(indices):
            seconds = float(times[position][0])
            yield DecodedFrame(
                index=index,
                pts=round(seconds * 1000),
                seconds=seconds,
                image=np.ascontiguousarray(images[position], dtype=np.uint8),
            )


def frame_count_decord(source: VideoSource) -> int:
    """The number of frames decord finds in a video."""
    import decord

    return len(decord.VideoReader(source, ctx=decord.cpu(0), num_threads=1))
