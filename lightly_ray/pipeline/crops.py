"""Object crops: every box of a detection task becomes a sample of its own.

With `worker_config.object_level.task_name`, the workers that hold a decoded image (the decode
tasks for a task of the lightly location, the detector actors for `lightly_pretagging`) cut
its boxes out of it, so no file is read per box. A crop is the box grown by
`object_level.padding` (width and height times 1 + padding, around the box's centre), clipped
to the image, in whole pixels: `x1 = floor(cx - w'/2)`, `x2 = ceil(cx + w'/2)`, clipped to
`[0, width]` (likewise for y). A box without area, or one that lies outside the image, gives a
row with `ok=False` and the reason, which the run counts and lists instead of cutting it.

A crop's name is `<sample path without extension>-crop-<box index>-<extension>.png` (the box
index counts the sample's boxes in file order), after the frame names of videos
(`clips/a-007-mp4.png` -> `clips/a-007-mp4-crop-0-png.png`). Its rows have every sample
column: the pixels at the embedding's input size, the Lightly metadata of the crop's own pixels,
its size, and its source's video columns, plus CROP_COLUMNS.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES
from lightly_ray.pipeline.batch import Batch
from lightly_ray.pipeline.decode import METADATA_COLUMN_PREFIX
from lightly_ray.pipeline.lightly_metadata import compute_lightly_metadata

PARENT, BOX_INDEX, CROP_BOX, CATEGORY, BOX_SCORE = (
    "parent",
    "box_index",
    "crop_box",
    "category_id",
    "box_score",
)
CROP_COLUMNS = (PARENT, BOX_INDEX, CROP_BOX, CATEGORY, BOX_SCORE)


def crop_name(sample: str, index: int) -> str:
    """The name of box `index` of `sample`: `dir/image_1.jpg` -> `dir/image_1-crop-3-jpg.png`."""
    root, extension = posixpath.splitext(sample)
    return f"{root}-crop-{index}-{extension.lstrip('.') or 'none'}.png"


def padded_box(box: np.ndarray, padding: float, width: int, height: int) -> tuple[int, int, int, int] | str:
    """The crop of a box `(x, y, w, h)` (pixels) grown by `padding` and clipped to the image.

    Returns:
        `(x1, y1, x2, y2)` in whole pixels with x1 < x2 and y1 < y2, or why there is no crop.
    """
    x, y, w, h = (float(value) for value in box)
    if not all(math.isfinite(value) for value in (x, y, w, h)):
        return f"the box {[x, y, w, h]} is not finite"
    if w <= 0 or h <= 0:
        return f"the box {[x, y, w, h]} has no area"
    centre_x, centre_y = x + w / 2, y + h / 2
    half_w, half_h = w * (1 + padding) / 2, h * (1 + padding) / 2
    x1, x2 = max(0, math.floor(centre_x - half_w)), min(width, math.ceil(centre_x + half_w))
    y1, y2 = max(0, math.floor(centre_y - half_h)), min(height, math.ceil(centre_y + half_h))
    if x2 <= x1 or y2 <= y1:
        return f"the box {[x, y, w, h]} lies outside the {width}x{height} image"
    return x1, y1, x2, y2


def cut_crops(
    sample: str,
    pixels: np.ndarray,
    boxes: np.ndarray,
    categories: np.ndarray,
    scores: np.ndarray,
    *,
    padding: float,
    input_size: int,
    source: dict[str, object],
) -> Batch:
    """The crop rows of one decoded image.

    Args:
        sample: The image's (or frame's) name.
        pixels: The decoded image, shape (height, width, 3), uint8, in the boxes' pixel frame.
        boxes: Shape (k, 4): `x, y, w, h` in pixels of `pixels`.
        categories: Shape (k,): each box's category id.
        scores: Shape (k,): each box's score.
        padding: `object_level.padding`.
        input_size: The embedding's input size.
        source: The sample columns the crops inherit (size, mtime_ns, video, frame columns).

    Returns:
        One row per box with the sample columns and CROP_COLUMNS.
    """
    count = len(boxes)
    height, width = pixels.shape[:2]
    rows: Batch = {
        "name": np.array([crop_name(sample, index) for index in range(count)], dtype=object),
        "image": np.zeros((count, input_size, input_size, 3), dtype=np.uint8),
        "ok": np.zeros(count, dtype=bool),
        "error": np.full(count, "", dtype=object),
        "content_hash": np.full(count, "", dtype=object),
        "width": np.zeros(count, dtype=np.int32),
        "height": np.zeros(count, dtype=np.int32),
        PARENT: np.full(count, sample, dtype=object),
        BOX_INDEX: np.arange(count, dtype=np.int32),
        CROP_BOX: np.zeros((count, 4), dtype=np.int32),
        CATEGORY: np.asarray(categories, dtype=np.int64).reshape(count),
        BOX_SCORE: np.asarray(scores, dtype=np.float32).reshape(count),
    }
    metadata = {name: np.zeros(count, dtype=np.float64) for name in LIGHTLY_METADATA_NAMES}
    for index in range(count):
        crop = padded_box(boxes[index], padding, width, height)
        if isinstance(crop, str):
            rows["error"][index] = crop
            continue
        x1, y1, x2, y2 = crop
        part = np.ascontiguousarray(pixels[y1:y2, x1:x2, :3])
        resized = Image.fromarray(part).resize((input_size, input_size), Image.Resampling.BILINEAR)
        rows["image"][index] = np.asarray(resized, dtype=np.uint8)
        rows["ok"][index] = True
        rows["width"][index], rows["height"][index] = x2 - x1, y2 - y1
        rows[CROP_BOX][index] = crop
        # A crop has no file of its own: sizeInBytes is that of its raw RGB pixels.
        for name, value in compute_lightly_metadata(part, part.nbytes).items():
            metadata[name][index] = value
    for name, values in metadata.items():
        rows[f"{METADATA_COLUMN_PREFIX}{name}"] = values
    for column, inherited in source.items():
        rows[column] = np.full(count, inherited, dtype=object if isinstance(inherited, str) else None)
    return rows


@dataclass(frozen=True)
class CropSource:
    """The boxes the decode tasks cut (travels to the tasks).

    Attributes:
        boxes_ref: One-element list holding the ObjectRef of `ObjectBoxes.by_sample`.
        padding: `object_level.padding`.
    """

    boxes_ref: list[Any]
    padding: float


class CropCollector:
    """Cuts the boxes of the decoded images of one decode task into crop rows."""

    def __init__(self, source: CropSource, input_size: int) -> None:
        import ray

        self.boxes: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = ray.get(source.boxes_ref[0])
        self.padding = source.padding
        self.input_size = input_size
        self.parts: list[Batch] = []

    def add(self, sample: str, pixels: np.ndarray, inherited: dict[str, object]) -> None:
        """Cut the boxes of `sample` (if it has any) out of its decoded pixels."""
        found = self.boxes.get(sample)
        if found is None or not len(found[0]):
            return
        boxes, categories, scores = found
        self.parts.append(
            cut_crops(
                sample,
                pixels,
                boxes,
                categories,
                scores,
                padding=self.padding,
                input_size=self.input_size,
                source=inherited,
            )
        )


def with_crop_defaults(batch: Batch) -> Batch:
    """A batch of sample rows (not crops) with CROP_COLUMNS: no parent, no box."""
    count = len(batch["name"])
    return {
        **batch,
        PARENT: np.full(count, "", dtype=object),
        BOX_INDEX: np.full(count, -1, dtype=np.int32),
        CROP_BOX: np.zeros((count, 4), dtype=np.int32),
        CATEGORY: np.full(count, -1, dtype=np.int64),
        BOX_SCORE: np.zeros(count, dtype=np.float32),
    }


__all__ = [
    "CROP_COLUMNS",
    "CropCollector",
    "CropSource",
    "crop_name",
    "cut_crops",
    "padded_box",
    "with_crop_defaults",
]
