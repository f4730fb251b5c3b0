from __future__ import annotations

from fractions import Fraction

import numpy as np
import pyarrow as pa

from lightly_ray.pipeline.build import unit_blocks, unit_samples
from lightly_ray.pipeline.units import IndexedVideos, build_units, plan_of, sample_names
from lightly_ray.video.segments import VideoIndex


def _index(frames: int, keyframe_every: int) -> VideoIndex:
    return VideoIndex(
        pts=np.arange(frames, dtype=np.int64) * 512,
        keyframes=np.arange(0, frames, keyframe_every, dtype=np.int64),
        time_base=Fraction(1, 12800),
        width=8,
        height=8,
    )


LISTING = pa.table(
    {
        "name": ["a.png", "clips/long.mp4", "clips/zz.mov", "z.jpg"],
        "size": [10, 5000, 7, 20],
        "mtime_ns": [1, 2, 3, 4],
    }
)
VIDEOS = IndexedVideos(indexes={"clips/long.mp4": _index(300, 50)}, corrupt={"clips/zz.mov": "broken"})


def test_units_are_images_and_segments_of_indexed_videos() -> None:
    units = build_units(LISTING, VIDEOS, frames_per_segment=128)
    assert units.column("source").to_pylist() == ["a.png", "clips/long.mp4", "clips/long.mp4", "z.jpg"]
    assert units.column("frame_start").to_pylist() == [0, 0, 150, 0]
    assert unit_samples(units).tolist() == [1, 150, 150, 1]
    row = 2
    plan = plan_of(
        np.asarray(units.column("pts")[row].as_py()),
        units.column("frame_start")[row].as_py(),
        units.column("stop_pts")[row].as_py(),
        units.column("seek_pts")[row].as_py(),
        units.column("time_base_num")[row].as_py(),
        units.column("time_base_den")[row].as_py(),
    )
    assert (plan.start, len(plan.pts), plan.stop_pts) == (150, 150, None)
    assert plan.seek_pts == 100 * 512  # one keyframe before the segment's first
    assert plan.time_base == Fraction(1, 12800)
    first = plan_of(
        np.asarray(units.column("pts")[1].as_py()),
        0,
        units.column("stop_pts")[1].as_py(),
        units.column("seek_pts")[1].as_py(),
        1,
        12800,
    )
    assert (first.seek_pts, first.stop_pts) == (None, 150 * 512)


def test_blocks_keep_segments_whole_and_cover_every_unit() -> None:
    units = build_units(LISTING, VIDEOS, frames_per_segment=128)
    blocks = unit_blocks(units, unit_samples(units), per_block=64)
    assert [block.num_rows for block in blocks] == [1, 1, 1, 1]
    assert pa.concat_tables(blocks).equals(units)
    small = build_units(LISTING.slice(0, 1), IndexedVideos())
    assert [block.num_rows for block in unit_blocks(small, unit_samples(small), per_block=64)] == [1]


def test_sample_names_expand_videos_into_frames() -> None:
    names = sample_names(LISTING, VIDEOS)
    assert names[:2] == ["a.png", "clips/long-000-mp4.png"]
    assert names[-2:] == ["clips/long-299-mp4.png", "z.jpg"]
    assert len(names) == 302
