"""report.json's `inputs` with object level: the files of the images, not the crops (object_level.py).

Selection on crops reads the object-level task as each crop's own box; the report's `inputs`
still describes the prediction and metadata files as a run without object level reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray.config.run_config import PRETAGGING_TASK, RunConfig
from lightly_ray.datasets.datapool import DatapoolPlan
from lightly_ray.formats.lightly_inputs import read_lightly_inputs
from lightly_ray.formats.pretag_schema import PRETAG_BOXES, PRETAG_COUNT, PRETAG_LABELS, PRETAG_SCORES
from lightly_ray.formats.relevant_filenames import RelevantFilenames, parse_relevant_filenames
from lightly_ray.object_level import CropRun
from lightly_ray.pipeline.crops import BOX_INDEX, BOX_SCORE, CATEGORY, CROP_BOX, PARENT, crop_name
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.report.image_inputs import image_pool_names
from lightly_ray.storage import Location

IMAGES = [f"img_{index}.png" for index in range(6)]
BOXES_PER_IMAGE = 3  # more crops than images, so that crop counts cannot pass for file counts
METADATA_SCHEMA = [{"name": "Cars", "path": "count", "defaultValue": 0, "valueDataType": "NUMERIC_INT"}]


def _config(object_level: str | None, **worker: Any) -> RunConfig:
    task = object_level or "vehicles"
    return RunConfig.model_validate(
        {
            "worker_config": {"object_level": {"task_name": object_level}, **worker},
            "selection_config": {
                "n_samples": 2,
                "strategies": [
                    {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
                    {
                        "input": {"type": "SCORES", "task": task, "score": "object_frequency"},
                        "strategy": {"type": "WEIGHTS"},
                    },
                ],
            },
        }
    )


def _write(root: Path, path: str, value: Any) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(value if isinstance(value, str) else json.dumps(value))


def _lightly(root: Path) -> Location:
    """Tasks `vehicles` (detection) and `weather` (classification) and custom metadata.

    `vehicles` has a file per image, one of them invalid, and one file naming no image.
    """
    folder = ".lightly/predictions"
    _write(root, f"{folder}/tasks.json", ["vehicles", "weather"])
    categories = [{"id": 0, "name": "car"}, {"id": 1, "name": "bus"}]
    _write(
        root, f"{folder}/vehicles/schema.json", {"task_type": "object-detection", "categories": categories}
    )
    _write(root, f"{folder}/weather/schema.json", {"task_type": "classification", "categories": categories})
    _write(root, ".lightly/metadata/schema.json", METADATA_SCHEMA)
    for index, name in enumerate(IMAGES):
        stem = name.removesuffix(".png")
        boxes = [
            {"category_id": box % 2, "bbox": [4 * box, 4, 10, 10], "score": 0.5}
            for box in range(BOXES_PER_IMAGE)
        ]
        _write(root, f"{folder}/vehicles/{stem}.json", {"file_name": name, "predictions": boxes})
        weather = [{"category_id": index % 2, "probabilities": [0.3, 0.7]}]
        _write(root, f"{folder}/weather/{stem}.json", {"file_name": name, "predictions": weather})
        _write(
            root,
            f".lightly/metadata/{stem}.json",
            {"file_name": name, "type": "image", "metadata": {"count": index}},
        )
    _write(root, f"{folder}/vehicles/img_0.json", "{not json")
    _write(root, f"{folder}/vehicles/nothere.json", {"file_name": "nothere.png", "predictions": []})
    return Location(str(root), writable=True)


def _gathered(crops: dict[str, int], detections: dict[str, np.ndarray] | None = None) -> GatheredSamples:
    """The images and, per image, `crops[image]` crops of its boxes, as gathering returns them."""
    rows = [(name, "", -1) for name in IMAGES]
    rows += [(crop_name(image, box), image, box) for image, count in crops.items() for box in range(count)]
    rows.sort()
    gathered = GatheredSamples.of_matrix([name for name, _, _ in rows], np.eye(len(rows), dtype=np.float32))
    is_crop = np.array([parent != "" for _, parent, _ in rows])
    gathered.detections = {
        PARENT: np.array([parent for _, parent, _ in rows], dtype=object),
        BOX_INDEX: np.array([box for _, _, box in rows], dtype=np.int32),
        CROP_BOX: np.tile(np.array([0, 0, 12, 12], dtype=np.int32), (len(rows), 1)),
        CATEGORY: np.where(is_crop, 0, -1).astype(np.int64),
        BOX_SCORE: np.full(len(rows), 0.5, dtype=np.float32),
    }
    image_rows = np.flatnonzero(~is_crop)
    for column, values in (detections or {}).items():  # the images' detector columns
        full = np.zeros((len(rows), *values.shape[1:]), dtype=values.dtype)
        full[image_rows] = values
        if column == PRETAG_COUNT:
            full[is_crop] = -1
        gathered.detections[column] = full
    return gathered


def _plan(relevant: RelevantFilenames | None = None) -> DatapoolPlan:
    """The image dataset's plan of a run without the datapool."""
    return DatapoolPlan(to_process=pa.table({"name": IMAGES}), relevant=relevant)


def _inputs_of(run: CropRun, gathered: GatheredSamples) -> dict[str, Any]:
    images = run.split(gathered)
    run.pool(images, _plan(), datapool=False)
    return run.inputs().report()


def test_object_level_reports_every_task_and_the_metadata_as_files_of_the_images(tmp_path: Path) -> None:
    lightly = _lightly(tmp_path)
    config = _config("vehicles")
    run = CropRun.of(config, lightly, IMAGES, IMAGES, "cars")
    assert run is not None
    gathered = _gathered({name: BOXES_PER_IMAGE for name in IMAGES[1:]})
    images = run.split(gathered)
    run.pool(images, _plan(), datapool=False)
    inputs = run.inputs()
    block = inputs.report()

    vehicles = block["predictions"]["vehicles"]
    # 7 files: one per image and one naming no image; img_0's is not JSON.
    assert (vehicles["files"], vehicles["validFiles"], vehicles["samplesWithPredictions"]) == (7, 5, 5)
    assert vehicles["nProblems"] == 2
    weather = block["predictions"]["weather"]
    assert (weather["files"], weather["validFiles"], weather["samplesWithPredictions"]) == (6, 6, 6)
    assert block["metadata"]["fields"] == ["count"] and block["metadata"]["filesRead"] == 6
    assert inputs.problem_count() == 2

    # The same as a run without object level reads for these images (but for its note).
    plain = read_lightly_inputs(lightly, _config(None), IMAGES, [None] * len(IMAGES)).report()
    assert {**block, "notes": []} == plain
    assert any("objectLevel" in note for note in block["notes"])

    # Selection still reads each crop's own box as the task's prediction.
    crops = inputs.predictions["vehicles"]
    assert len(crops.predictions) == BOXES_PER_IMAGE * 5
    assert all(len(found) == 1 for found in crops.predictions.values())
    assert set(inputs.predictions) == {"vehicles"} and inputs.metadata is None


def test_files_the_relevant_filenames_leave_out_are_not_read_on_object_level(tmp_path: Path) -> None:
    lightly = _lightly(tmp_path)
    run = CropRun.of(_config("vehicles"), lightly, IMAGES, IMAGES, "cars")
    assert run is not None
    images = run.split(_gathered({name: BOXES_PER_IMAGE for name in IMAGES[1:]}))
    run.pool(images, _plan(parse_relevant_filenames("img_*\n")), datapool=False)

    vehicles = run.inputs().report()["predictions"]["vehicles"]

    # nothere.json names an input file the run's listing left out: counted, not a problem.
    assert vehicles["filesNotRead"] == {"notRelevant": 1}
    assert (vehicles["files"], vehicles["validFiles"], vehicles["nProblems"]) == (7, 5, 1)


def test_pretagging_on_crops_reports_one_prediction_file_per_image(tmp_path: Path) -> None:
    lightly = Location(str(tmp_path), writable=True)
    config = _config(PRETAGGING_TASK, pretagging=True)
    run = CropRun.of(config, lightly, IMAGES, IMAGES, "cars")
    assert run is not None
    found = np.array([BOXES_PER_IMAGE] * (len(IMAGES) - 1) + [0], dtype=np.int32)  # the last: none
    detector = {
        PRETAG_COUNT: found,
        PRETAG_BOXES: np.tile(np.array([0.1, 0.1, 0.5, 0.5], dtype=np.float32), (len(IMAGES), 100, 1)),
        PRETAG_LABELS: np.full((len(IMAGES), 100), 2, dtype=np.int8),
        PRETAG_SCORES: np.full((len(IMAGES), 100), 0.9, dtype=np.float32),
        "width": np.full(len(IMAGES), 64, dtype=np.int32),
        "height": np.full(len(IMAGES), 48, dtype=np.int32),
    }
    gathered = _gathered({name: BOXES_PER_IMAGE for name in IMAGES[:-1]}, detector)
    block = _inputs_of(run, gathered)

    pretagged = block["predictions"][PRETAGGING_TASK]
    # The detector wrote a prediction file for every image it ran on, the last one's empty.
    counts = (pretagged["files"], pretagged["validFiles"], pretagged["samplesWithPredictions"])
    assert counts == (len(IMAGES),) * 3
    assert pretagged["nProblems"] == 0


@pytest.mark.parametrize("stored", [False, True])
def test_the_image_pool_is_the_candidates_and_the_image_datasets_samples(stored: bool) -> None:
    names = ["a.png", "b.png", "clip-0-mp4.png", "clip-1-mp4.png", "d.png"]
    images = GatheredSamples.of_matrix(names, np.eye(5, dtype=np.float32))
    images.frames = {"video": np.array(["", "", "clip.mp4", "clip.mp4", ""], dtype=object)}
    images.candidate[:] = [False, True, True, False, False]  # a.png and d.png: in the dataset
    dataset = ["a.png", "old-0-mp4.png"] if stored else ["a.png"]
    preselected = pa.table({"name": dataset, "video": ["", "old.mp4"][: len(dataset)]})
    plan = DatapoolPlan(to_process=pa.table({"name": names}), preselected=preselected)

    pool, videos = image_pool_names(images, plan)
    expected = ["a.png", "b.png", "clip-0-mp4.png", *(["old-0-mp4.png"] if stored else [])]
    assert pool.tolist() == expected
    assert list(videos) == [None, None, "clip.mp4", *(["old.mp4"] if stored else [])]
    pool, videos = image_pool_names(images, None)
    assert pool.tolist() == ["b.png", "clip-0-mp4.png"] and list(videos) == [None, "clip.mp4"]
