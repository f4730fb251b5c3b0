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
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import ray

from lightly_ray.config import RunConfig
from lightly_ray.config.run_config import PRETAGGING_TASK
from lightly_ray.crops_dataset import crops_dataset_name, publish_crops, write_crop_images
from lightly_ray.datasets import Dataset
from lightly_ray.datasets.current_rows import preselected_samples
from lightly_ray.datasets.datapool import DatapoolPlan
from lightly_ray.datasets.selection_pool import SelectionPool, selection_pool
from lightly_ray.datasets.settings import embedding_settings
from lightly_ray.datasets.store import DatasetState
from lightly_ray.formats.lightly_inputs import LightlyInputs
from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.predictions import TaskPredictions, read_task_predictions, require_predictions
from lightly_ray.formats.pretag_schema import PRETAG_CLASSES, pretag_schema
from lightly_ray.pipeline.crops import BOX_INDEX, BOX_SCORE, CATEGORY, CROP_BOX, PARENT, CropSource
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.report.image_inputs import read_image_inputs
from lightly_ray.report.object_crops import objects_report
from lightly_ray.selection.data import ObjectEmbeddings, SelectionData
from lightly_ray.storage import Location

logger = logging.getLogger("lightly_ray")


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


def read_object_boxes(
    location: Location, task: str, names: Sequence[str], processed: Sequence[str]
) -> ObjectBoxes:
    """Read task `task`'s boxes of the samples a run decodes (`processed`, of all its `names`).

    Raises:
        InputFormatError: When the task has no valid prediction file while samples are decoded.
    """
    predictions = read_task_predictions(location, task, names)
    if processed:
        require_predictions(predictions)
    found = ObjectBoxes(task=predictions)
    wanted = set(processed)
    for name, items in predictions.predictions.items():
        if name not in wanted:
            continue
        boxed = [item for item in items if item.bbox is not None]
        if not boxed:
            continue
        found.by_sample[name] = (
            np.array([item.bbox for item in boxed], dtype=np.float32).reshape(-1, 4),
            np.array([item.category_id for item in boxed], dtype=np.int64),
            np.array([item.score if item.score is not None else 1.0 for item in boxed], dtype=np.float32),
        )
    logger.info("crops: %d boxes of task '%s' in %d samples", found.n_boxes, task, len(found.by_sample))
    return found


def split_crops(gathered: GatheredSamples) -> tuple[GatheredSamples, GatheredSamples]:
    """The gathered samples (images and frames) and the crops, each sorted by name.

    A crop is a candidate when it was cut and its image is a candidate (decoded, no duplicate).
    """
    parents = gathered.detections.get(PARENT)
    is_crop = (parents != "") if parents is not None else np.zeros(len(gathered.names), dtype=bool)
    images, crops = gathered.subset(~is_crop), gathered.subset(is_crop)
    if parents is None:  # nothing was decoded (a rerun with no new file): no crop columns either
        crops.detections.update(
            {
                PARENT: np.zeros(0, dtype=object),
                BOX_INDEX: np.zeros(0, dtype=np.int32),
                CROP_BOX: np.zeros((0, 4), dtype=np.int32),
                CATEGORY: np.zeros(0, dtype=np.int64),
                BOX_SCORE: np.zeros(0, dtype=np.float32),
            }
        )
    chosen = set(images.names[images.candidate].tolist())
    crops.candidate &= np.array([str(parent) in chosen for parent in crops.detections[PARENT]], dtype=bool)
    return images, crops


def crop_predictions(task: TaskPredictions, crops: GatheredSamples) -> TaskPredictions:
    """Task T on the crops: each crop's one prediction is its own box's category and score.

    No file holds these: the result has no files and no problems (the task's files are
    described by `report.image_inputs`, the crops by `objects_report`).
    """
    result = TaskPredictions(schema=task.schema)
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


@dataclass
class CropRun:
    """One run's crops, step by step: their boxes, the crops once gathered, the picks.

    Two kinds of run cut crops. Object level (`on_crops`): the crops are the candidates, their
    images are selected with them, and the picked crops go to the crops dataset. An EMBEDDINGS
    input with `task`: the images stay the candidates, and the embeddings of each image's crops
    steer the selection of that image (`object_embeddings`); nothing else changes.

    Attributes:
        config: The run configuration.
        boxes: The task's boxes (empty for `lightly_pretagging`: the detector finds them).
        dataset: The crops dataset (object level only).
        location: The lightly location.
        crops: The gathered crops (after `split`).
        selected: The crops picked (after `select`; object level only).
        preselected: With the datapool, the crops dataset's crops (after `pool`).
        n_preselected: The crops selection starts from (after `pool`): the preselected and, of
            those embedded with other settings, the ones cut again by this run.
        state: With the datapool, the crops dataset as `pool` read it (its publication checks
            that no other run published to it since).
        images: The gathered images and frames and the image dataset's datapool plan, from
            `pool` until `inputs` has read their files.
    """

    config: RunConfig
    boxes: ObjectBoxes
    dataset: Dataset | None
    location: Location
    crops: GatheredSamples | None = None
    selected: list[str] = field(default_factory=list)
    preselected: pa.Table | None = None
    n_preselected: int = 0
    state: DatasetState | None = None
    images: tuple[GatheredSamples, DatapoolPlan] | None = None

    @classmethod
    def of(
        cls,
        config: RunConfig,
        lightly_location: Location,
        names: Sequence[str],
        processed: Sequence[str],
        dataset_name: str,
    ) -> CropRun | None:
        """The crops of a run (`RunConfig.crop_task`), or None without any.

        `names` are all the run's samples (a prediction file naming one of them is no problem),
        `processed` those it decodes (their boxes are cut).
        """
        task = config.crop_task()
        if task is None:
            return None
        if task == PRETAGGING_TASK:  # the detector actors cut the crops of what they find
            boxes = ObjectBoxes(task=TaskPredictions(schema=pretag_schema()))
        else:
            boxes = read_object_boxes(lightly_location, task, names, processed)
        on_crops = config.worker_config.object_level.task_name is not None
        dataset = Dataset(lightly_location, crops_dataset_name(config, dataset_name)) if on_crops else None
        return cls(config, boxes, dataset, lightly_location)

    @property
    def on_crops(self) -> bool:
        """Object level: selection runs over the crops."""
        return self.dataset is not None

    @property
    def tasks_read(self) -> dict[str, TaskPredictions]:
        """The task whose boxes are cut, as read from its files (none with pretagging), by name."""
        task = self.boxes.task
        return {} if task.task_name == PRETAGGING_TASK else {task.task_name: task}

    def crop_source(self) -> CropSource | None:
        """What the decode tasks cut (None when the detector actors cut the crops)."""
        if self.boxes.task.task_name == PRETAGGING_TASK:
            return None
        return CropSource([ray.put(self.boxes.by_sample)], self.config.worker_config.object_level.padding)

    def split(self, gathered: GatheredSamples) -> GatheredSamples:
        """The gathered images and frames; the crops are kept here (`split_crops`)."""
        images, self.crops = split_crops(gathered)
        return images

    def pool(self, images: GatheredSamples, plan: DatapoolPlan, *, datapool: bool) -> SelectionPool:
        """What selection runs over on crops: the crops of candidate images (after `split`).

        With the datapool, the crops dataset's crops embedded with this run's settings are
        preselected: diversity keeps its distance to them and they count toward n_samples.
        `plan` is the image dataset's (its preselected images matter only with the datapool).
        """
        assert self.crops is not None and self.dataset is not None
        self.images = (images, plan)
        chosen = set(images.names[images.candidate].tolist())
        parents = self.crops.detections[PARENT].astype(str)
        self.crops.candidate &= np.fromiter((parent in chosen for parent in parents), bool, len(parents))
        if not datapool:
            return selection_pool(self.crops, None)
        self.state = self.dataset.load()
        self.preselected, other, _ = preselected_samples(
            self.dataset, self.state, embedding_settings(self.config)
        )
        cut_here = set(self.crops.names.tolist())
        again = [name for name in other if name in cut_here]  # embedded again by this run
        if len(again) < len(other):
            logger.warning(
                "%d crops of '%s' were embedded with other settings: they are not preselected",
                len(other) - len(again),
                self.dataset.name,
            )
        empty = pa.table({"name": pa.array([], pa.string())})
        plan = DatapoolPlan(to_process=empty, preselected=self.preselected, reembed=again)
        pool = selection_pool(self.crops, plan)
        self.n_preselected = len(pool.preselected)
        return pool

    def why_no_crops(self) -> str:
        """Why no crop was cut (for a run that found none), and what to change."""
        assert self.crops is not None
        skipped = int((self.crops.errors != "").sum())
        if self.boxes.task.task_name == PRETAGGING_TASK:
            threshold = self.config.lightly_config.pretagging.score_threshold
            return (
                f"the detector found no {', '.join(PRETAG_CLASSES)} scoring at least {threshold:g} "
                "(lightly_config.pretagging.score_threshold) in the decoded samples"
            )
        task = self.boxes.task.task_name
        if skipped:
            return f"all {skipped} boxes of task '{task}' have no area or lie outside their image"
        return f"task '{task}' has no boxes for the decoded samples"

    def inputs(self) -> LightlyInputs:
        """What selection reads on crops (after `pool`): each crop's own box as the task's prediction.

        Its report describes the prediction and metadata files of the images and frames instead,
        as a run without object level reads them (`report.image_inputs`).
        """
        assert self.crops is not None and self.images is not None
        files = read_image_inputs(self.location, self.config, *self.images, already_read=self.tasks_read)
        self.images = None
        predictions = crop_predictions(self.boxes.task, self.crops)
        earlier = self.preselected
        if earlier is not None:  # the crops dataset's other crops, with their boxes as written
            columns = (earlier.column(key).to_pylist() for key in ("name", "category_id", "score", "box"))
            for name, category, score, (x1, y1, x2, y2) in zip(*columns, strict=True):
                if name in predictions.predictions:  # cut again here: its box as it is now
                    continue
                predictions.predictions[str(name)] = [
                    Prediction(category_id=int(category), score=float(score), bbox=(x1, y1, x2 - x1, y2 - y1))
                ]
        task = self.boxes.task.task_name
        note = f"object level: selection reads task '{task}' as each crop's own box (crops: objectLevel)"
        return LightlyInputs(predictions={task: predictions}, notes=[note], files=files)

    def object_embeddings(self, candidates: Sequence[str]) -> dict[str, ObjectEmbeddings]:
        """The task's object embeddings for images `candidates` (EMBEDDINGS with `task`)."""
        if self.on_crops:
            return {}
        assert self.crops is not None
        return {self.boxes.task.task_name: object_embeddings(self.crops, candidates)}

    def select(self, picked: list[str]) -> list[str]:
        """The run's selection, sorted: the picked images, or the images of the picked crops."""
        if not self.on_crops:
            return sorted(picked)
        assert self.crops is not None
        self.selected = sorted(picked)
        parent_of = dict(zip(self.crops.names.tolist(), self.crops.detections[PARENT].tolist(), strict=True))
        return sorted({str(parent_of[name]) for name in self.selected})

    def held_images(self, plan: DatapoolPlan) -> set[str]:
        """The images the image dataset holds (object level with the datapool; else none)."""
        if not self.on_crops or plan.preselected is None:
            return set()
        return set(plan.preselected.column("name").to_pylist()) | set(plan.reembed)

    def write(self, input_location: Location, lightly_location: Location) -> None:
        """Write the picked crops' pictures into the crops dataset (before it is published)."""
        if self.dataset is None or not self.selected:
            return
        assert self.crops is not None
        image_format = self.config.worker_config.output_image_format
        written = write_crop_images(
            input_location, lightly_location, self.dataset, self.crops, self.selected, image_format
        )
        logger.info("wrote %d crops to %s/", len(written), self.dataset.folder)

    def report(self) -> dict[str, Any]:
        """report.json's `objectLevel`, or `objectEmbeddings` for EMBEDDINGS with `task`."""
        assert self.crops is not None
        boxes = self.boxes
        n_boxes = boxes.n_boxes if boxes.by_sample else None
        padding = self.config.worker_config.object_level.padding
        block = objects_report(boxes.task.task_name, n_boxes, len(boxes.by_sample), self.crops, padding)
        if self.dataset is None:
            return {"objectEmbeddings": block}
        picked: dict[str, Any] = {
            "nSelectedCrops": len(self.selected),
            "nPreselectedCrops": self.n_preselected,
        }
        picked["cropsDataset"] = self.dataset.name
        return {"objectLevel": {**block, **picked}}

    def publish(
        self,
        run_id: str,
        tag: str,
        input_url: str,
        listing: pa.Table,
        finished: dt.datetime,
        data: SelectionData,
    ) -> None:
        """Add the picked crops to the crops dataset (`publish_crops`); none picked: it is unchanged."""
        if self.dataset is None:
            return
        if not self.selected:
            logger.info("no crop was selected: crops dataset '%s' is unchanged", self.dataset.name)
            return
        assert self.crops is not None
        publish_crops(
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
            self.state,
        )


def object_embeddings(crops: GatheredSamples, candidates: Sequence[str]) -> ObjectEmbeddings:
    """The embeddings of the candidate crops, each with the position of its image in `candidates`.

    Crops of images that are not candidates, and boxes that could not be cut, are left out.
    """
    position = {str(name): index for index, name in enumerate(candidates)}
    index = np.array([position.get(str(parent), -1) for parent in crops.detections[PARENT]], dtype=np.int64)
    keep = crops.candidate & (index >= 0)
    return ObjectEmbeddings(embeddings=crops.embeddings_of(np.flatnonzero(keep)), candidate_index=index[keep])


__all__ = [
    "CropRun",
    "ObjectBoxes",
    "crop_predictions",
    "object_embeddings",
    "read_object_boxes",
    "split_crops",
]
