"""Decode units: what one row of the decode stage stands for, an image file or a video segment.

The listing holds files; the pipeline works on samples (an image, a video frame). Between them,
videos are indexed (one demux pass each, in Ray tasks, `video.segments.index_video`) and cut
into segments at keyframes, so that one long video is decoded by several tasks at once. A unit
row carries what its task needs and nothing more: the file, and for a segment its frames'
timestamps, where to seek and where to stop (`video.segments.SegmentPlan`), as Arrow columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pyarrow as pa
import ray

from lightly_ray.pipeline.input_kinds import is_video_file
from lightly_ray.storage import Location
from lightly_ray.video.names import frame_names
from lightly_ray.video.segments import SegmentPlan, VideoError, VideoIndex, index_video, plan_segments

FRAMES_PER_SEGMENT = 128
NO_PTS = int(np.iinfo(np.int64).min)  # a timestamp no video has

UNIT_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("mtime_ns", pa.int64()),  # 0 when the store reports none
        pa.field("video_frames", pa.int64()),  # 0 for an image
        pa.field("frame_start", pa.int64()),
        pa.field("pts", pa.list_(pa.int64())),
        pa.field("stop_pts", pa.int64()),  # NO_PTS: to the end
        pa.field("seek_pts", pa.int64()),  # NO_PTS: from the start
        pa.field("time_base_num", pa.int64()),
        pa.field("time_base_den", pa.int64()),
    ]
)


@dataclass
class IndexedVideos:
    """The videos of a listing, indexed.

    Attributes:
        indexes: By video name, for the videos that could be indexed.
        corrupt: By video name, why it cannot be read as a video.

    """

    indexes: dict[str, VideoIndex] = field(default_factory=dict)
    corrupt: dict[str, str] = field(default_factory=dict)

    @property
    def frame_count(self) -> int:
        """Frames of all indexed videos."""
        return sum(index.frame_count for index in self.indexes.values())


def index_videos(location: Location, listing: pa.Table) -> IndexedVideos:
    """Index every video of a listing in parallel Ray tasks (one demux pass per video).

    Args:
        location: The input location.
        listing: The sorted listing (name, size, ...).

    Returns:
        The indexes, and the videos that cannot be opened with the reason.

    """
    names = listing.column("name").to_pylist()
    sizes = listing.column("size").to_pylist()
    videos = [(name, size) for name, size in zip(names, sizes, strict=True) if is_video_file(name)]
    refs = [_index_task.remote(location, name, size) for name, size in videos]
    indexed = IndexedVideos()
    for (name, _), outcome in zip(videos, ray.get(refs), strict=True):
        if isinstance(outcome, VideoIndex):
            indexed.indexes[name] = outcome
        else:
            indexed.corrupt[name] = outcome
    return indexed


@ray.remote(num_cpus=1)
def _index_task(location: Location, name: str, size: int) -> VideoIndex | str:
    try:
        with location.open_read(name, size) as stream:
            return index_video(stream, name)
    except VideoError as error:
        return str(error)
    except (OSError, ValueError) as error:
        return f"{name}: cannot be read ({error})"


def build_units(
    listing: pa.Table, videos: IndexedVideos, frames_per_segment: int = FRAMES_PER_SEGMENT
) -> pa.Table:
    """One row per image file and per video segment, in listing order.

    Args:
        listing: The sorted listing.
        videos: The indexed videos (corrupt ones get no unit).
        frames_per_segment: The smallest segment worth a task of its own.

    Returns:
        A table of UNIT_SCHEMA.

    """
    rows: dict[str, list[object]] = {name: [] for name in UNIT_SCHEMA.names}

    def add(source: str, size: int, mtime: int, frames: int, plan: SegmentPlan | None) -> None:
        rows["source"].append(source)
        rows["size"].append(size)
        rows["mtime_ns"].append(mtime)
        rows["video_frames"].append(frames)
        if plan is None:
            rows["frame_start"].append(0)
            rows["pts"].append([])
            rows["stop_pts"].append(NO_PTS)
            rows["seek_pts"].append(NO_PTS)
            rows["time_base_num"].append(0)
            rows["time_base_den"].append(1)
            return
        rows["frame_start"].append(plan.start)
        rows["pts"].append(plan.pts.tolist())
        rows["stop_pts"].append(NO_PTS if plan.stop_pts is None else plan.stop_pts)
        rows["seek_pts"].append(NO_PTS if plan.seek_pts is None else plan.seek_pts)
        rows["time_base_num"].append(plan.time_base.numerator)
        rows["time_base_den"].append(plan.time_base.denominator)

    names = listing.column("name").to_pylist()
    sizes = listing.column("size").to_pylist()
    mtimes = listing.column("mtime_ns").to_pylist()
    for name, size, mtime in zip(names, sizes, mtimes, strict=True):
        if not is_video_file(name):
            add(name, size, mtime or 0, 0, None)
            continue
        index = videos.indexes.get(name)
        if index is None:
            continue
        for segment in plan_segments(index, frames_per_segment):
            add(name, size, mtime or 0, index.frame_count, SegmentPlan.of(index, segment))
    return pa.table(rows, schema=UNIT_SCHEMA)


def plan_of(
    row_pts: np.ndarray, frame_start: int, stop_pts: int, seek_pts: int, num: int, den: int
) -> SegmentPlan:
    """The segment plan a unit row carries (see `build_units`)."""
    return SegmentPlan(
        start=int(frame_start),
        pts=np.asarray(row_pts, dtype=np.int64),
        stop_pts=None if stop_pts == NO_PTS else int(stop_pts),
        seek_pts=None if seek_pts == NO_PTS else int(seek_pts),
        time_base=Fraction(int(num), int(den)),
    )


def sample_names(listing: pa.Table, videos: IndexedVideos) -> list[str]:
    """Every sample of a listing: image names, and the frame names of each indexed video."""
    names: list[str] = []
    for name in listing.column("name").to_pylist():
        if not is_video_file(name):
            names.append(name)
        elif name in videos.indexes:
            names += frame_names(name, videos.indexes[name].frame_count)
    return names
