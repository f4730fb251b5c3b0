"""Small JPEG thumbnails of the samples the report shows, read in driver threads, kept in the run folder.

The report shows a bounded number of pictures (the hover images of the map, the examples), so
their thumbnails are made once, after selection, and written to the run folder as
`thumbnails.parquet` (`name`, `jpeg`): `lightly-ray report RUN` rebuilds report.html from the run
folder alone, even after the input changed.

Where each picture comes from:
- an image: the input file, decoded with Pillow's draft mode (a JPEG decodes at a fraction of
  its size);
- a selected video frame (this run's or an earlier run's): its image in `.lightly/frames/`;
- any other frame: decoded from this run's video, one Ray task per segment, stopping at the
  last wanted frame.

A picture that cannot be read is left out (the page shows the name without it); it never fails
the run. The few hundred pictures are read by threads of the driver, not Ray tasks: a task would
start a worker process (a second or more, with its imports) where none is idle, for example after
a datapool rerun that embedded in the driver; reading is I/O, and Pillow and PyAV decode without
holding the GIL.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
from PIL import Image, ImageOps

from lightly_ray.outputs.frames import frame_image_path
from lightly_ray.pipeline.units import FRAMES_PER_SEGMENT, IndexedVideos
from lightly_ray.storage import Location
from lightly_ray.video.decode import decode_plan
from lightly_ray.video.segments import SegmentPlan, plan_segments

logger = logging.getLogger(__name__)

THUMBNAIL_PIXELS = 112
JPEG_QUALITY = 80
IMAGES_PER_TASK = 16
THREADS = 8
THUMBNAILS_FILE = "thumbnails.parquet"
THUMBNAIL_SCHEMA = pa.schema([("name", pa.string()), ("jpeg", pa.binary())])


@dataclass(frozen=True)
class Wanted:
    """A sample whose thumbnail the report wants.

    Attributes:
        name: The sample name.
        video: Its video, or None for an image.
        frame_index: Its frame index (-1 for an image).
        selected: Whether it is a selected frame (its image is in `.lightly/frames/`).
    """

    name: str
    video: str | None = None
    frame_index: int = -1
    selected: bool = False


def start_thumbnails(
    input_location: Location,
    lightly_location: Location,
    wanted: Sequence[Wanted],
    *,
    videos: IndexedVideos | None,
    sizes: Mapping[str, int],
    frame_format: str,
) -> list[Future[dict[str, bytes]]]:
    """Start threads that make JPEG thumbnails of the wanted samples; `collect_thumbnails` waits.

    Args:
        input_location: The input (read-only).
        lightly_location: Where `.lightly/frames/` holds selected frames.
        wanted: The samples.
        videos: This run's indexed videos (frames of other videos need a selected frame image).
        sizes: File sizes from the listing, for ranged reads.
        frame_format: `worker_config.output_image_format` of selected frames.

    Returns:
        The futures of the work.
    """
    threads = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="lightly-ray-thumbnails")
    refs: list[Future[dict[str, bytes]]] = []
    files: list[tuple[str, str, bool]] = []  # (name, path, in the lightly location)
    frames: dict[str, list[Wanted]] = defaultdict(list)
    for item in wanted:
        if item.video is None:
            files.append((item.name, item.name, False))
        elif item.selected:
            files.append((item.name, frame_image_path(item.name, frame_format), True))
        else:
            frames[item.video].append(item)
    for start in range(0, len(files), IMAGES_PER_TASK):
        refs.append(
            threads.submit(
                _image_thumbnails, input_location, lightly_location, files[start : start + IMAGES_PER_TASK]
            )
        )
    indexes = videos.indexes if videos is not None else {}
    for video, items in sorted(frames.items()):
        index = indexes.get(video)
        if index is None:
            continue
        for segment in plan_segments(index, FRAMES_PER_SEGMENT):
            inside = {
                item.frame_index: item.name
                for item in items
                if segment.start <= item.frame_index < segment.stop
            }
            if inside:
                plan = SegmentPlan.of(index, segment)
                refs.append(
                    threads.submit(_frame_thumbnails, input_location, video, sizes.get(video), plan, inside)
                )
    threads.shutdown(wait=False)
    return refs


def collect_thumbnails(refs: list[Future[dict[str, bytes]]], wanted: int) -> dict[str, bytes]:
    """By name, the JPEG bytes the tasks made (unreadable pictures are left out)."""
    thumbnails: dict[str, bytes] = {}
    for made in (future.result() for future in refs):
        thumbnails.update(made)
    if len(thumbnails) < wanted:
        logger.info("report: %d of %d pictures could not be read", wanted - len(thumbnails), wanted)
    return thumbnails


def thumbnails_table(thumbnails: Mapping[str, bytes]) -> pa.Table:
    """The thumbnails as the table written to `thumbnails.parquet`, sorted by name."""
    names = sorted(thumbnails)
    return pa.table({"name": names, "jpeg": [thumbnails[name] for name in names]}, schema=THUMBNAIL_SCHEMA)


def thumbnail(image: Image.Image) -> bytes:
    """A JPEG of at most THUMBNAIL_PIXELS on its longer side, upright per its EXIF orientation."""
    image.draft("RGB", (THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
    upright = ImageOps.exif_transpose(image).convert("RGB")
    upright.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
    buffer = io.BytesIO()
    upright.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _image_thumbnails(
    input_location: Location, lightly_location: Location, files: list[tuple[str, str, bool]]
) -> dict[str, bytes]:
    made: dict[str, bytes] = {}
    for name, path, in_lightly in files:
        location = lightly_location if in_lightly else input_location
        try:
            with Image.open(io.BytesIO(location.read_bytes(path))) as image:
                made[name] = thumbnail(image)
        except Exception:
            logger.debug("no thumbnail for %s", name, exc_info=True)
    return made


def _frame_thumbnails(
    input_location: Location, video: str, size: int | None, plan: SegmentPlan, wanted: dict[int, str]
) -> dict[str, bytes]:
    made: dict[str, bytes] = {}
    last = max(wanted)
    try:
        with input_location.open_read(video, size) as stream:
            for frame in decode_plan(stream, plan):
                if frame.index in wanted:
                    made[wanted[frame.index]] = thumbnail(Image.fromarray(frame.image))
                if frame.index >= last:
                    break
    except Exception:
        logger.debug("no thumbnails from %s", video, exc_info=True)
    return made


__all__ = [
    "THUMBNAILS_FILE",
    "Wanted",
    "collect_thumbnails",
    "start_thumbnails",
    "thumbnail",
    "thumbnails_table",
]
