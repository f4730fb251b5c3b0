"""Pretag: a Ray Data actor that runs the detector over decoded images and writes its predictions.

With `worker_config.pretagging: true` the plan is decode -> pretag -> embed. Each actor loads
the detector once (weights from the object store, `models.detector`), runs it over the
detector columns of `detector_input`, maps its COCO classes to the seven of the seed and keeps
detections scoring at least `lightly_config.pretagging.score_threshold`. It writes one file per
image or frame to `.lightly/predictions/lightly_pretagging/<name without extension>.json` in the
seed's format (boxes normalised `x1, y1, x2, y2`):

    [{"filename": "image_1.png", "boxes": [[0.869, 0.153, 0.885, 0.197]], "labels": ["person"],
      "scores": [0.98]}]

and hands the detections on as fixed-shape columns (`PRETAG_COLUMNS`, at most MAX_DETECTIONS
per row), so that the driver has them without reading the files back. With
`pretagging_debug: true` it also writes each image with its boxes and labels drawn. torch is
imported by the actor, not by this module (the driver stays without it: `models.weights`).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray

from lightly_ray.config.lightly import PretaggingConfig
from lightly_ray.formats.pretag_schema import (
    DECIMALS,
    PRETAG_BOXES,
    PRETAG_CLASSES,
    PRETAG_COUNT,
    PRETAG_LABELS,
    PRETAG_SCORES,
    prediction_path,
)
from lightly_ray.formats.sample_files import stem
from lightly_ray.models.coco_labels import MAX_DETECTIONS, coco_to_pretag
from lightly_ray.pipeline.batch import Batch
from lightly_ray.pipeline.crops import CROP_BOX, cut_crops, padded_box, with_crop_defaults
from lightly_ray.pipeline.decode_units import decode_units
from lightly_ray.pipeline.detector_input import DETECT_IMAGE, DETECT_SHAPE
from lightly_ray.storage import Location

# The columns a crop takes from its image or frame.
INHERITED_COLUMNS = ("size", "mtime_ns", "video", "video_frames", "frame_index", "frame_pts", "frame_seconds")
WRITE_THREADS = 8
_COLORS = ("#e03131", "#1971c2", "#2f9e44", "#f08c00", "#9c36b5", "#0c8599", "#5c940d")


@dataclass(frozen=True)
class PretagOutput:
    """Where the detector actors write (travels to the actors).

    Attributes:
        location: The lightly location (read-write).
        debug_folder: With `pretagging_debug`, the folder (relative to the location) that gets
            each image with its boxes drawn; else None.
    """

    location: Location
    debug_folder: str | None = None


def to_pretag(
    boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, height: int, width: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's detector output as the seven classes, boxes normalised.

    Args:
        boxes: Shape (k, 4), `x1, y1, x2, y2` in pixels of the image the detector saw.
        labels: Shape (k,), torchvision's COCO label indices.
        scores: Shape (k,), in [0, 1].
        height: The height of the image the detector saw.
        width: Its width.
        threshold: Detections scoring lower are dropped.

    Returns:
        Boxes (m, 4) float32 in [0, 1] (`x1, y1, x2, y2` over width and height), class indices
        into PRETAG_CLASSES (m,) int64, scores (m,) float32; detections of other classes are
        dropped, the order is kept. Values are rounded to DECIMALS, as in the files.
    """
    table = coco_to_pretag()
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    inside = (labels >= 0) & (labels < len(table))
    classes = np.where(inside, table[np.clip(labels, 0, len(table) - 1)], -1)
    keep = (classes >= 0) & (scores >= threshold)
    scale = np.array([width, height, width, height], dtype=np.float64)
    normalised = np.clip(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[keep] / scale, 0.0, 1.0)
    return (
        np.round(normalised, DECIMALS).astype(np.float32),
        classes[keep],
        np.round(scores[keep], DECIMALS).astype(np.float32),
    )


def seed_record(
    name: str, boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray
) -> list[dict[str, Any]]:
    """The content of one prediction file in the seed's format."""
    return [
        {
            "filename": name,
            "boxes": [[round(float(value), DECIMALS) for value in box] for box in boxes],
            "labels": [PRETAG_CLASSES[int(index)] for index in classes],
            "scores": [round(float(score), DECIMALS) for score in scores],
        }
    ]


class PretagImages:
    """Detect objects in decoded images; rows that failed to decode get no detections (count -1).

    Args:
        settings: `lightly_config.pretagging`.
        state_ref: One-element list holding the ObjectRef of the detector's weights.
        torch_threads: torch's threads when the detector runs on CPU.
        output: Where the prediction files (and debug pictures) go.
        crops: With object level on `lightly_pretagging`, `(padding, input_size)`: each kept
            detection is cut from the image the detector saw into a crop row
            (`crops.cut_crops`), after the batch's own rows; its `crop_box` is scaled back to the
            sample's own pixels.
        decode: The keyword arguments of `decode_units` when the actor decodes its blocks of
            units itself (CPU detectors, `build.decodes_in_detectors`); None when decode tasks
            hand it decoded rows.
    """

    def __init__(
        self,
        settings: PretaggingConfig,
        state_ref: list[ray.ObjectRef[Any]],
        torch_threads: int = 1,
        output: PretagOutput | None = None,
        crops: tuple[float, int] | None = None,
        decode: dict[str, Any] | None = None,
    ) -> None:
        import torch

        from lightly_ray.models.detector import load_detector

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu":
            torch.set_num_threads(torch_threads)
        self.settings = settings
        self.network = load_detector(settings, ray.get(state_ref[0]), self.device)
        self.output = output
        self.crops = crops
        self.decode = decode
        self.writers = ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="lightly-ray-pretag")

    def __call__(self, batch: Batch) -> Batch:
        """Detect in one batch.

        Args:
            batch: Decoded rows with the detector columns, `name` and `ok`; with `decode`,
                units that the actor decodes into such rows first.

        Returns:
            The batch without the detector columns, plus PRETAG_COLUMNS: the number of kept
            detections per row (-1 when the row did not decode), their boxes (rows, 100, 4),
            class indices into PRETAG_CLASSES (-1 past the count) and scores.
        """
        if self.decode is not None:
            batch = decode_units(batch, **self.decode)
        images = batch.pop(DETECT_IMAGE)
        shapes = batch.pop(DETECT_SHAPE)
        ok = np.asarray(batch["ok"], dtype=bool)
        count = len(ok)
        counts = np.full(count, -1, dtype=np.int32)
        boxes = np.zeros((count, MAX_DETECTIONS, 4), dtype=np.float32)
        labels = np.full((count, MAX_DETECTIONS), -1, dtype=np.int8)
        scores = np.zeros((count, MAX_DETECTIONS), dtype=np.float32)
        rows = np.flatnonzero(ok)
        size = self.settings.batch_size
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            for row, output in zip(chunk, self._detect(images, shapes, chunk), strict=True):
                height, width = (int(value) for value in shapes[row])
                kept = to_pretag(*output, height, width, self.settings.score_threshold)
                found = len(kept[1])
                counts[row] = found
                boxes[row, :found], labels[row, :found], scores[row, :found] = kept
        if self.output is not None:
            self._write(batch["name"], rows, counts, boxes, labels, scores, images, shapes)
        batch[PRETAG_COUNT], batch[PRETAG_BOXES] = counts, boxes
        batch[PRETAG_LABELS], batch[PRETAG_SCORES] = labels, scores
        if self.crops is None:
            return batch
        return self._with_crops(batch, rows, images, shapes)

    def _with_crops(self, batch: Batch, rows: np.ndarray, images: np.ndarray, shapes: np.ndarray) -> Batch:
        assert self.crops is not None
        padding, input_size = self.crops
        parts = [with_crop_defaults(batch)]
        for row in rows:
            found = int(batch[PRETAG_COUNT][row])
            if found <= 0:
                continue
            height, width = (int(value) for value in shapes[row])
            normalised = batch[PRETAG_BOXES][row, :found].astype(np.float64)
            scale = np.array([width, height, width, height], dtype=np.float64)
            corners = normalised * scale
            boxes = np.column_stack([corners[:, :2], corners[:, 2:] - corners[:, :2]])
            inherited = {column: _scalar(batch[column][row]) for column in INHERITED_COLUMNS}
            cut = cut_crops(
                str(batch["name"][row]),
                images[row, :height, :width],
                boxes,
                batch[PRETAG_LABELS][row, :found].astype(np.int64),
                batch[PRETAG_SCORES][row, :found],
                padding=padding,
                input_size=input_size,
                source=inherited,
            )
            # The crop's region in the sample's own pixels (the detector saw it scaled): the
            # same padding and clipping on the normalised box times the sample's size.
            own_width, own_height = int(batch["width"][row]), int(batch["height"][row])
            own = normalised * np.array([own_width, own_height, own_width, own_height], dtype=np.float64)
            for index, (x1, y1, x2, y2) in enumerate(own):
                region = padded_box(np.array([x1, y1, x2 - x1, y2 - y1]), padding, own_width, own_height)
                if isinstance(region, str):
                    cut["ok"][index], cut["error"][index] = False, region
                    cut[CROP_BOX][index] = 0
                    continue
                cut[CROP_BOX][index] = region
                cut["width"][index], cut["height"][index] = region[2] - region[0], region[3] - region[1]
            count = len(cut["name"])
            cut[PRETAG_COUNT] = np.full(count, -1, dtype=np.int32)
            cut[PRETAG_BOXES] = np.zeros((count, MAX_DETECTIONS, 4), dtype=np.float32)
            cut[PRETAG_LABELS] = np.full((count, MAX_DETECTIONS), -1, dtype=np.int8)
            cut[PRETAG_SCORES] = np.zeros((count, MAX_DETECTIONS), dtype=np.float32)
            parts.append(cut)
        return {column: np.concatenate([part[column] for part in parts]) for column in parts[0]}

    def _detect(
        self, images: np.ndarray, shapes: np.ndarray, rows: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        import torch

        with torch.inference_mode():
            tensors = []
            for row in rows:
                height, width = (int(value) for value in shapes[row])
                pixels = torch.from_numpy(np.ascontiguousarray(images[row, :height, :width])).to(self.device)
                tensors.append(pixels.permute(2, 0, 1).float().div_(255.0))
            outputs = self.network(tensors)
            return [
                (
                    output["boxes"].float().cpu().numpy(),
                    output["labels"].cpu().numpy(),
                    output["scores"].float().cpu().numpy(),
                )
                for output in outputs
            ]

    def _write(
        self,
        names: np.ndarray,
        rows: np.ndarray,
        counts: np.ndarray,
        boxes: np.ndarray,
        labels: np.ndarray,
        scores: np.ndarray,
        images: np.ndarray,
        shapes: np.ndarray,
    ) -> None:
        assert self.output is not None
        location, debug = self.output.location, self.output.debug_folder

        def write(row: int) -> None:
            name, found = str(names[row]), int(counts[row])
            record = seed_record(name, boxes[row, :found], labels[row, :found], scores[row, :found])
            location.write_bytes(prediction_path(name), json.dumps(record).encode())
            if debug is not None:
                height, width = (int(value) for value in shapes[row])
                picture = draw_detections(images[row, :height, :width], record[0])
                location.write_bytes(f"{debug}/{stem(name)}.png", picture)

        list(self.writers.map(write, rows.tolist()))


def _scalar(value: Any) -> Any:
    """A numpy scalar as a Python one (strings of object columns are Python strings already)."""
    return value.item() if isinstance(value, np.generic) else value


def draw_detections(pixels: np.ndarray, record: dict[str, Any]) -> bytes:
    """A PNG of an image with its detections' boxes, labels and scores drawn."""
    import io

    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(pixels))
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for box, label, score in zip(record["boxes"], record["labels"], record["scores"], strict=True):
        color = _COLORS[PRETAG_CLASSES.index(label) % len(_COLORS)]
        x1, y1, x2, y2 = box[0] * width, box[1] * height, box[2] * width, box[3] * height
        draw.rectangle((x1, y1, x2, y2), outline=color, width=2)
        draw.text((x1 + 2, y1 + 1), f"{label} {score:.2f}", fill=color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


__all__ = ["PretagImages", "PretagOutput", "draw_detections", "seed_record", "to_pretag"]
