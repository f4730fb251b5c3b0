"""Object level on the driver: the boxes to cut, the crops to select from, the crops dataset.

With `worker_config.object_level.task_name: T` (seeds 000 and 001), every box of task T becomes a
crop sample (`pipeline.crops`): the decode tasks cut them and the embedding actors embed them
with the images. Selection runs over the crops, with the inputs the spec allows on crops:
embeddings, task T's scores and class distribution (each crop: its own box's category and
score) and the Lightly metadata computed on the crop. The full images of the selected crops are
selected too; the selected crops are written as images, with their embeddings, box, category
and source image, into the crops dataset (`<dataset name>-crops`, or `crop_dataset_name`).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import ray
from PIL import Image

from lightly_ray.config import RunConfig
from lightly_ray.config.run_config import PRETAGGING_TASK
from lightly_ray.datasets import Dataset
from lightly_ray.datasets.annotations import annotate
from lightly_ray.datasets.rows import files_table, processed_table, rows_named
from lightly_ray.datasets.settings import embedding_settings
from lightly_ray.datasets.store import RunRecord
from lightly_ray.formats.lightly_inputs import LightlyInputs
from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.predictions import TaskPredictions, read_task_predictions, require_predictions
from lightly_ray.formats.pretag_schema import pretag_schema
from lightly_ray.outputs.frames import PIL_FORMATS, frame_image_path
from lightly_ray.pipeline.crops import BOX_INDEX, BOX_SCORE, CATEGORY, CROP_BOX, PARENT, CropSource
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.selection.data import SelectionData
from lightly_ray.storage import Location

logger = logging.getLogger("lightly_ray")

SKIPPED_IN_REPORT = 50
CROPS_FOLDER = "crops"  # in the crops dataset's folder
WRITE_THREADS = 8


@dataclass
class ObjectBoxes:
    """The boxes of the object-level task, by sample.

    Attributes:
        task: The task's predictions as read.
        by_sample: By sample name: boxes (k, 4) `x, y, w, h` in pixels, category ids (k,), scores (k,).
    """

    task: TaskPredictions
    by_sample: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def n_boxes(self) -> int:
        """Boxes over all samples."""
        return sum(len(boxes) for boxes, _, _ in self.by_sample.values())


def read_object_boxes(location: Location, task: str, names: Sequence[str]) -> ObjectBoxes:
    """Read task `task`'s boxes for the run's samples (images and frames).

    Raises:
        InputFormatError: When the task has no valid prediction file.
    """
    predictions = read_task_predictions(location, task, names)
    require_predictions(predictions)
    found = ObjectBoxes(task=predictions)
    for name, items in predictions.predictions.items():
        boxed = [item for item in items if item.bbox is not None]
        if not boxed:
            continue
        found.by_sample[name] = (
            np.array([item.bbox for item in boxed], dtype=np.float32).reshape(-1, 4),
            np.array([item.category_id for item in boxed], dtype=np.int64),
            np.array([item.score if item.score is not None else 1.0 for item in boxed], dtype=np.float32),
        )
    logger.info(
        "object level: %d boxes of task '%s' in %d samples", found.n_boxes, task, len(found.by_sample)
    )
    return found


def split_crops(gathered: GatheredSamples) -> tuple[GatheredSamples, GatheredSamples]:
    """The gathered samples (images and frames) and the crops, each sorted by name.

    A crop is a candidate when it was cut and its image is a candidate (decoded, no duplicate).
    """
    parents = gathered.detections.get(PARENT)
    is_crop = (parents != "") if parents is not None else np.zeros(len(gathered.names), dtype=bool)
    images, crops = gathered.subset(~is_crop), gathered.subset(is_crop)
    chosen = set(images.names[images.candidate].tolist())
    crops.candidate &= np.array([str(parent) in chosen for parent in crops.detections[PARENT]], dtype=bool)
    return images, crops


def crop_predictions(task: TaskPredictions, crops: GatheredSamples) -> TaskPredictions:
    """Task T on the crops: each crop's one prediction is its own box's category and score."""
    result = TaskPredictions(schema=task.schema, n_files=task.n_files, problems=list(task.problems))
    columns = crops.detections
    for row, name in enumerate(crops.names):
        x1, y1, x2, y2 = (float(value) for value in columns[CROP_BOX][row])
        result.predictions[str(name)] = [
            Prediction(
                category_id=int(columns[CATEGORY][row]),
                score=float(columns[BOX_SCORE][row]),
                bbox=(x1, y1, x2 - x1, y2 - y1),
            )
        ]
    return result


def objects_report(
    config: RunConfig, boxes: ObjectBoxes, crops: GatheredSamples, picked: int
) -> dict[str, Any]:
    """report.json's `objectLevel`: boxes, crops cut, boxes skipped (with their files), crops picked."""
    skipped = np.flatnonzero(crops.errors != "")
    return {
        "task": config.worker_config.object_level.task_name,
        "padding": config.worker_config.object_level.padding,
        # A task's boxes as read; the detector's, as found (each gives a crop row).
        "nBoxes": boxes.n_boxes if boxes.by_sample else len(crops.names),
        "nCrops": int((crops.errors == "").sum()),
        "nCandidates": int(crops.candidate.sum()),
        "nSkipped": len(skipped),
        "skipped": [
            {
                "file": str(crops.detections[PARENT][row]),
                "box": int(crops.detections[BOX_INDEX][row]),
                "why": str(crops.errors[row]),
            }
            for row in skipped[:SKIPPED_IN_REPORT]
        ],
        "nSelectedCrops": picked,
        "nSamplesWithBoxes": len(boxes.by_sample) or len(set(crops.detections[PARENT].tolist())),
    }


def crops_dataset_name(config: RunConfig, dataset: str) -> str:
    """`object_level.crop_dataset_name`, or `<dataset>-crops`."""
    return config.worker_config.object_level.crop_dataset_name or f"{dataset}-crops"


def write_crop_images(
    input_location: Location,
    lightly_location: Location,
    dataset: Dataset,
    crops: GatheredSamples,
    selected: Sequence[str],
    image_format: str,
) -> list[str]:
    """Write each selected crop as an image into the crops dataset's `crops/` folder.

    Each source image is read once (an image from the input, a frame from the frames the run
    wrote to `.lightly/frames/`), and its selected crops are cut from it.

    Returns:
        The paths written, relative to the lightly location.
    """
    row_of = {str(name): row for row, name in enumerate(crops.names)}
    by_parent: dict[str, list[int]] = {}
    for name in selected:
        row = row_of[name]
        by_parent.setdefault(str(crops.detections[PARENT][row]), []).append(row)
    videos = crops.frames.get("video")

    def write(parent: str, rows: list[int]) -> list[str]:
        from_video = videos is not None and bool(videos[rows[0]])
        source = lightly_location if from_video else input_location
        path = frame_image_path(parent, image_format) if from_video else parent
        with Image.open(io.BytesIO(source.read_bytes(path))) as opened:
            pixels = opened.convert("RGB")
        written = []
        for row in rows:
            x1, y1, x2, y2 = (int(value) for value in crops.detections[CROP_BOX][row])
            buffer = io.BytesIO()
            pixels.crop((x1, y1, x2, y2)).save(buffer, format=PIL_FORMATS[image_format])
            target = f"{dataset.folder}/{crop_file(str(crops.names[row]), image_format)}"
            lightly_location.write_bytes(target, buffer.getvalue())
            written.append(target)
        return written

    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        parts = list(pool.map(lambda item: write(*item), by_parent.items()))
    return [path for part in parts for path in part]


def crop_file(name: str, image_format: str) -> str:
    """Where a crop's picture goes in its crops dataset's folder: `crops/<name>`, as png or jpg."""
    suffix = "jpg" if image_format in ("jpg", "jpeg") else "png"
    return f"{CROPS_FOLDER}/{name.removesuffix('.png')}.{suffix}"


def publish_crops(
    config: RunConfig,
    dataset: Dataset,
    run_id: str,
    tag: str,
    input_url: str,
    crops: GatheredSamples,
    listing: pa.Table,
    selected: list[str],
    finished: dt.datetime,
    data: SelectionData,
    image_format: str,
) -> int:
    """Add the selected crops to the crops dataset (samples, tags), after the crop images.

    Returns:
        The crops dataset's sample count after the run.
    """
    previous = dataset.load()
    processed = processed_table(crops, listing, run_id)
    chosen = annotate(rows_named(processed, selected), data)
    position = {str(name): row for row, name in enumerate(crops.names)}
    rows = [position[str(name)] for name in chosen.column("name").to_pylist()]
    columns = crops.detections
    extra = {
        "source": pa.array([str(columns[PARENT][row]) for row in rows], pa.string()),
        "box_index": pa.array([int(columns[BOX_INDEX][row]) for row in rows], pa.int32()),
        "box": pa.array(
            [[int(value) for value in columns[CROP_BOX][row]] for row in rows], pa.list_(pa.int32(), 4)
        ),
        "category_id": pa.array([int(columns[CATEGORY][row]) for row in rows], pa.int64()),
        "score": pa.array([float(columns[BOX_SCORE][row]) for row in rows], pa.float32()),
        "picture": pa.array([crop_file(str(crops.names[row]), image_format) for row in rows], pa.string()),
    }
    for key, values in extra.items():
        chosen = chosen.append_column(key, values)
    record = RunRecord(
        run_id=run_id,
        tag=tag if selected else "",
        finished=finished.isoformat(),
        input=input_url,
        selected=len(selected),
        processed=0,
        embedding=embedding_settings(config),
    )
    state = dataset.publish(
        previous,
        record,
        selected=chosen,
        processed=processed.slice(0, 0),
        files=files_table(listing.slice(0, 0)),
    )
    logger.info(
        "crops dataset '%s': %d crops added (%d in all)", dataset.name, len(selected), state.sample_count
    )
    return state.sample_count


@dataclass
class CropRun:
    """One run's object level, step by step: its boxes, its crops once gathered, its picks.

    Attributes:
        config: The run configuration.
        boxes: The task's boxes (empty for `lightly_pretagging`: the detector finds them).
        dataset: The crops dataset.
        crops: The gathered crops (after `split`).
        selected: The crops picked (after `select`).
    """

    config: RunConfig
    boxes: ObjectBoxes
    dataset: Dataset
    crops: GatheredSamples | None = None
    selected: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls, config: RunConfig, lightly_location: Location, names: Sequence[str], dataset_name: str
    ) -> CropRun | None:
        """The object level of a run on samples `names`, or None without one."""
        task = config.worker_config.object_level.task_name
        if task is None:
            return None
        if task == PRETAGGING_TASK:  # the detector actors cut the crops of what they find
            boxes = ObjectBoxes(task=TaskPredictions(schema=pretag_schema()))
        else:
            boxes = read_object_boxes(lightly_location, task, names)
        return cls(config, boxes, Dataset(lightly_location, crops_dataset_name(config, dataset_name)))

    def crop_source(self) -> CropSource | None:
        """What the decode tasks cut (None when the detector actors cut the crops)."""
        if self.boxes.task.task_name == PRETAGGING_TASK:
            return None
        return CropSource([ray.put(self.boxes.by_sample)], self.config.worker_config.object_level.padding)

    def split(self, gathered: GatheredSamples) -> tuple[GatheredSamples, GatheredSamples]:
        """The gathered images and frames, and the crops (kept here), `split_crops`."""
        images, self.crops = split_crops(gathered)
        return images, self.crops

    def inputs(self) -> LightlyInputs:
        """What selection reads on crops: each crop's own box as the task's prediction."""
        assert self.crops is not None
        return LightlyInputs(
            predictions={self.boxes.task.task_name: crop_predictions(self.boxes.task, self.crops)}
        )

    def select(self, picked: list[str]) -> list[str]:
        """Keep the picked crops; returns the run's selection: their images, sorted."""
        assert self.crops is not None
        self.selected = sorted(picked)
        parent_of = dict(zip(self.crops.names.tolist(), self.crops.detections[PARENT].tolist(), strict=True))
        return sorted({str(parent_of[name]) for name in self.selected})

    def write(self, input_location: Location, lightly_location: Location) -> None:
        """Write the picked crops' pictures into the crops dataset (before it is published)."""
        assert self.crops is not None
        image_format = self.config.worker_config.output_image_format
        written = write_crop_images(
            input_location, lightly_location, self.dataset, self.crops, self.selected, image_format
        )
        logger.info("wrote %d crops to %s/", len(written), self.dataset.folder)

    def report(self) -> dict[str, Any]:
        """report.json's `objectLevel`."""
        assert self.crops is not None
        block = objects_report(self.config, self.boxes, self.crops, len(self.selected))
        return {**block, "cropsDataset": self.dataset.name}

    def publish(
        self,
        run_id: str,
        tag: str,
        input_url: str,
        listing: pa.Table,
        finished: dt.datetime,
        data: SelectionData,
    ) -> int:
        """Add the picked crops to the crops dataset (`publish_crops`)."""
        assert self.crops is not None
        return publish_crops(
            self.config,
            self.dataset,
            run_id,
            tag,
            input_url,
            self.crops,
            listing,
            self.selected,
            finished,
            data,
            self.config.worker_config.output_image_format,
        )


__all__ = [
    "CropRun",
    "ObjectBoxes",
    "crop_predictions",
    "crops_dataset_name",
    "objects_report",
    "publish_crops",
    "read_object_boxes",
    "split_crops",
    "write_crop_images",
]
