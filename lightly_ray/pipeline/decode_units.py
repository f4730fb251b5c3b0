"""Decode units into sample rows: an image file gives one row, a video segment one per frame.

Runs as a Ray Data CPU task over batches of units (`pipeline/units.py`). The rows of images
and frames have the same columns: the sample's name, its video ("" for an image) and frame
index (-1), the pixels at the embedding's input size, whether it decoded and why not, the
content hash (images only: frames are never exact duplicates of each other), the original size
and the Lightly metadata of the full-resolution pixels. A frame that fails to decode becomes a
row with `ok=False`; a segment never fails its task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES
from lightly_ray.pipeline.batch import Batch
from lightly_ray.pipeline.crops import CROP_COLUMNS, CropCollector, CropSource, with_crop_defaults
from lightly_ray.pipeline.decode import METADATA_COLUMN_PREFIX, decode_batch
from lightly_ray.pipeline.detector_input import DETECT_COLUMNS, DetectorInputs
from lightly_ray.pipeline.lightly_metadata import compute_lightly_metadata
from lightly_ray.pipeline.units import plan_of
from lightly_ray.storage import Location
from lightly_ray.video.decode import SegmentDecode, decode_plan
from lightly_ray.video.names import frame_name
from lightly_ray.video.segments import VideoError

SAMPLE_COLUMNS = (
    "name",
    "size",
    "mtime_ns",
    "video",
    "video_frames",
    "frame_index",
    "frame_pts",
    "frame_seconds",
    "image",
    "ok",
    "error",
    "content_hash",
    "width",
    "height",
    *(f"{METADATA_COLUMN_PREFIX}{name}" for name in LIGHTLY_METADATA_NAMES),
)


def decode_units(
    batch: Batch,
    *,
    location: Location,
    input_size: int,
    detect_size: int | None = None,
    crops: CropSource | None = None,
) -> Batch:
    """Decode a batch of units into sample rows (one per image, one per video frame).

    Args:
        batch: Columns of `units.UNIT_SCHEMA`.
        location: The input location (read-only).
        input_size: Pixels are resized to input_size x input_size RGB.
        detect_size: With pretagging, the detector's image size: the columns of
            `detector_input.DETECT_COLUMNS` are added.
        crops: With object level, the boxes to cut: each box of a decoded image or frame adds a
            crop row (`crops.cut_crops`) after the sample rows, and every row gets
            `crops.CROP_COLUMNS`.

    Returns:
        The columns of SAMPLE_COLUMNS, images first, then the frames of each segment in order,
        then the crops.

    """
    columns = SAMPLE_COLUMNS + (DETECT_COLUMNS if detect_size is not None else ())
    collector = CropCollector(crops, input_size) if crops is not None else None
    frames = np.asarray(batch["video_frames"]) > 0
    images = np.flatnonzero(~frames)
    parts: list[Batch] = []
    if len(images):
        names = batch["source"][images]

        def cut(row: int, full: np.ndarray) -> None:
            assert collector is not None
            inherited = {
                "size": int(batch["size"][images[row]]),
                "mtime_ns": int(batch["mtime_ns"][images[row]]),
                **_IMAGE_SOURCE,
            }
            collector.add(str(names[row]), full, inherited)

        decoded = decode_batch(
            {"name": names, "size": batch["size"][images]},
            location=location,
            input_size=input_size,
            detect_size=detect_size,
            on_decoded=cut if collector is not None else None,
        )
        count = len(images)
        decoded["mtime_ns"] = np.asarray(batch["mtime_ns"][images], dtype=np.int64)
        decoded["video"] = np.full(count, "", dtype=object)
        decoded["video_frames"] = np.zeros(count, dtype=np.int64)
        decoded["frame_index"] = np.full(count, -1, dtype=np.int64)
        decoded["frame_pts"] = np.zeros(count, dtype=np.int64)
        decoded["frame_seconds"] = np.zeros(count, dtype=np.float64)
        parts.append({column: decoded[column] for column in columns})
    for row in np.flatnonzero(frames):
        parts.append(_decode_segment_row(batch, int(row), location, input_size, detect_size, collector))
    if collector is not None:
        columns = columns + CROP_COLUMNS
        parts = [with_crop_defaults(part) for part in parts] + collector.parts
    return {column: np.concatenate([part[column] for part in parts]) for column in columns}


_IMAGE_SOURCE = {"video": "", "video_frames": 0, "frame_index": -1, "frame_pts": 0, "frame_seconds": 0.0}


def _decode_segment_row(
    batch: Batch,
    row: int,
    location: Location,
    input_size: int,
    detect_size: int | None,
    collector: CropCollector | None = None,
) -> Batch:
    video = str(batch["source"][row])
    frame_count = int(batch["video_frames"][row])
    plan = plan_of(
        batch["pts"][row],
        batch["frame_start"][row],
        batch["stop_pts"][row],
        batch["seek_pts"][row],
        batch["time_base_num"][row],
        batch["time_base_den"][row],
    )
    segment = plan.segment
    rows = _FrameRows(segment.frame_count, input_size, detect_size)
    if collector is not None:
        size, mtime_ns = int(batch["size"][row]), int(batch["mtime_ns"][row])

        def cut(position: int, full: np.ndarray, pts: int, seconds: float) -> None:
            assert collector is not None
            index = segment.start + position
            inherited = {
                "size": size,
                "mtime_ns": mtime_ns,
                "video": video,
                "video_frames": frame_count,
                "frame_index": index,
                "frame_pts": pts,
                "frame_seconds": seconds,
            }
            collector.add(frame_name(video, index, frame_count), full, inherited)

        rows.on_decoded = cut
    report = SegmentDecode(segment)
    failure = ""
    try:
        with location.open_read(video, int(batch["size"][row])) as stream:
            for frame in decode_plan(stream, plan, report):
                rows.add(frame.index - segment.start, frame.image, frame.pts, frame.seconds)
    except (VideoError, OSError, ValueError) as error:
        failure = f"the video stopped decoding: {error}"
    reason = failure or (
        "; ".join(report.errors[:3]) if report.errors else "the decoder returned no frame for it"
    )
    for missing in report.missing():
        rows.error[missing - segment.start] = f"frame {missing} did not decode: {reason}"
    rows.name[:] = [frame_name(video, index, frame_count) for index in range(segment.start, segment.stop)]
    rows.frame_index[:] = np.arange(segment.start, segment.stop)
    rows.pts[:] = np.where(rows.ok, rows.pts, plan.pts)
    rows.seconds[:] = np.where(rows.ok, rows.seconds, plan.pts * float(plan.time_base))
    return rows.batch(video, int(batch["size"][row]), int(batch["mtime_ns"][row]), frame_count)


class _FrameRows:
    """The sample rows of one segment, filled frame by frame."""

    def __init__(self, count: int, input_size: int, detect_size: int | None = None) -> None:
        self.name = np.full(count, "", dtype=object)
        self.frame_index = np.zeros(count, dtype=np.int64)
        self.pts = np.zeros(count, dtype=np.int64)
        self.seconds = np.zeros(count, dtype=np.float64)
        self.image = np.zeros((count, input_size, input_size, 3), dtype=np.uint8)
        self.ok = np.zeros(count, dtype=bool)
        self.error = np.full(count, "", dtype=object)
        self.width = np.zeros(count, dtype=np.int32)
        self.height = np.zeros(count, dtype=np.int32)
        self.metadata = {name: np.zeros(count, dtype=np.float64) for name in LIGHTLY_METADATA_NAMES}
        self.input_size = input_size
        self.detector = DetectorInputs(count, detect_size) if detect_size is not None else None
        self.on_decoded: Callable[[int, np.ndarray, int, float], None] | None = None

    def add(self, position: int, full: np.ndarray, pts: int, seconds: float) -> None:
        size = self.input_size
        resized = Image.fromarray(full).resize((size, size), Image.Resampling.BILINEAR)
        self.image[position] = np.asarray(resized, dtype=np.uint8)
        self.height[position], self.width[position] = full.shape[:2]
        if self.detector is not None:
            self.detector.add(position, full)
        if self.on_decoded is not None:
            self.on_decoded(position, full, pts, seconds)
        self.pts[position], self.seconds[position] = pts, seconds
        # A frame has no file of its own: sizeInBytes is that of its raw RGB pixels.
        for name, value in compute_lightly_metadata(full, full.nbytes).items():
            self.metadata[name][position] = value
        self.ok[position] = True

    def batch(self, video: str, size: int, mtime_ns: int, frame_count: int) -> dict[str, Any]:
        count = len(self.name)
        return {
            "name": self.name,
            "size": np.full(count, size, dtype=np.int64),
            "mtime_ns": np.full(count, mtime_ns, dtype=np.int64),
            "video": np.full(count, video, dtype=object),
            "video_frames": np.full(count, frame_count, dtype=np.int64),
            "frame_index": self.frame_index,
            "frame_pts": self.pts,
            "frame_seconds": self.seconds,
            "image": self.image,
            "ok": self.ok,
            "error": self.error,
            "content_hash": np.full(count, "", dtype=object),
            "width": self.width,
            "height": self.height,
            **{f"{METADATA_COLUMN_PREFIX}{name}": values for name, values in self.metadata.items()},
            **(self.detector.columns() if self.detector is not None else {}),
        }
