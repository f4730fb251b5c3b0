"""Selected video frames written as images to `.lightly/frames/` in the lightly location.

After selection, each segment that holds selected frames is decoded again by a Ray task, which
encodes only the selected frames (`worker_config.output_image_format`) and writes each one
atomically: `.lightly/frames/clips/a-042-mp4.png` for the frame `clips/a-042-mp4.png` (a jpg
keeps the name with `.jpg`). The pixels never pass through the driver, and segments without a
selected frame are not decoded.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import ray
from PIL import Image

from lightly_ray.pipeline.units import FRAMES_PER_SEGMENT, IndexedVideos
from lightly_ray.storage import Location
from lightly_ray.video.decode import decode_plan
from lightly_ray.video.names import FRAME_SUFFIX, frame_name
from lightly_ray.video.segments import SegmentPlan, plan_segments

FRAMES_FOLDER = ".lightly/frames"
PIL_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}


def frame_image_path(name: str, image_format: str) -> str:
    """Where a frame's image is written in the lightly location."""
    stem = name[: -len(FRAME_SUFFIX)] if name.endswith(FRAME_SUFFIX) else name
    return f"{FRAMES_FOLDER}/{stem}.{image_format}"


def write_selected_frames(
    input_location: Location,
    lightly_location: Location,
    videos: IndexedVideos,
    selected: Sequence[tuple[str, int]],
    sizes: dict[str, int],
    image_format: str,
) -> list[str]:
    """Decode and write the selected frames, one Ray task per segment that holds some.

    Args:
        input_location: The input (read-only).
        lightly_location: Where `.lightly/frames/` is written.
        videos: The run's indexed videos.
        selected: The selected frames as (video name, frame index).
        sizes: The videos' sizes in bytes (from the listing), for ranged reads.
        image_format: `png`, `jpg` or `jpeg`.

    Returns:
        The paths written, relative to the lightly location, sorted.

    """
    wanted: dict[str, set[int]] = defaultdict(set)
    for video, frame in selected:
        wanted[video].add(int(frame))
    refs = []
    for video, indices in sorted(wanted.items()):
        index = videos.indexes[video]
        for segment in plan_segments(index, FRAMES_PER_SEGMENT):
            inside = sorted(i for i in indices if segment.start <= i < segment.stop)
            if inside:
                plan = SegmentPlan.of(index, segment)
                refs.append(
                    _write_segment_frames.remote(
                        input_location,
                        lightly_location,
                        video,
                        sizes.get(video),
                        plan,
                        inside,
                        index.frame_count,
                        image_format,
                    )
                )
    return sorted(path for written in ray.get(refs) for path in written)


def write_run_frames(
    input_location: Location,
    lightly_location: Location,
    image_format: str,
    listing: pa.Table,
    videos: IndexedVideos,
    samples: tuple[Sequence[str], Mapping[str, np.ndarray]],
    selected: list[str],
) -> list[str]:
    """Write a run's selected video frames to `.lightly/frames/` (Ray tasks, one per segment).

    Args:
        input_location: The input (read-only).
        lightly_location: Where the frames go.
        image_format: `worker_config.output_image_format`.
        listing: The run's listing (name, size).
        videos: Its indexed videos.
        samples: Every sample's name, and the frame columns (`video`, `frame_index`) of them.
        selected: The selected names.

    Returns:
        The paths written.
    """
    names, frames = samples
    if not videos.indexes or not frames:
        return []
    chosen = set(selected)
    picks = [
        (str(video), int(index))
        for name, video, index in zip(names, frames["video"], frames["frame_index"], strict=True)
        if video and name in chosen
    ]
    if not picks:
        return []
    sizes = dict(zip(listing.column("name").to_pylist(), listing.column("size").to_pylist(), strict=True))
    written = write_selected_frames(input_location, lightly_location, videos, picks, sizes, image_format)
    logging.getLogger("lightly_ray").info("wrote %d selected frames to %s/", len(written), FRAMES_FOLDER)
    return written


@ray.remote(num_cpus=1)
def _write_segment_frames(
    input_location: Location,
    lightly_location: Location,
    video: str,
    size: int | None,
    plan: SegmentPlan,
    indices: list[int],
    frame_count: int,
    image_format: str,
) -> list[str]:
    wanted = set(indices)
    written = []
    with input_location.open_read(video, size) as stream:
        for frame in decode_plan(stream, plan):
            if frame.index not in wanted:
                continue
            path = frame_image_path(frame_name(video, frame.index, frame_count), image_format)
            lightly_location.write_bytes(path, _encode(frame.image, image_format))
            written.append(path)
    return written


def _encode(image: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=PIL_FORMATS[image_format])
    return buffer.getvalue()
