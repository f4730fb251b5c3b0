"""Pretagging end to end on a local Ray instance: detector actors between decode and embed.

Weights cannot be downloaded here, so the detector gets random weights, or a checkpoint made
in the test whose classifier prefers COCO's "car" (label 3) for every proposal: then every
kept detection must come out as "car", which checks the class mapping through the whole run.
Two tests need what this machine lacks: one a CUDA GPU (the `gpu` marker), one torchvision's
COCO weights in the torch hub cache (put there by hand: nothing here downloads them).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray
import torch

import lightly_ray
from lightly_ray.config import load_config
from lightly_ray.config.lightly import PretaggingConfig
from lightly_ray.datasets import INITIAL_TAG, Dataset
from lightly_ray.errors import ConfigError, LightlyRayError, WeightsNotAvailableError
from lightly_ray.exports.export import export_tag
from lightly_ray.formats.pretag_schema import PRETAG_CLASSES
from lightly_ray.models.detector import build_detector_state, coco_cache_path
from lightly_ray.storage import Location
from tests.data.car_detector import car_checkpoint
from tests.data.grouped_images import FAST_MODEL, group_image
from tests.data.seed_configs import SEED_CONFIGS
from tests.data.videos import make_video
from tests.run_copies import copy_run_folders

pytestmark = pytest.mark.usefixtures("ray_instance")

DETECTOR: dict[str, Any] = {"score_threshold": 0.3, "image_size": 64, "batch_size": 4}
# Seed 002's example (balance the classes the detector found), for 4 of the 10 samples.
SEED_002_BALANCE = {**SEED_CONFIGS["pretagging_balance"]["selection_config"], "n_samples": 4}


def _input(root: Path) -> Path:
    folder = root / "input"
    (folder / "clips").mkdir(parents=True)
    for group in range(3):
        for member in range(2):
            (folder / f"g{group}_m{member}.png").write_bytes(group_image(group, member))
    make_video(folder / "clips" / "a.mp4", "libx264", {"g": "5", "preset": "ultrafast"}, frames=4)
    return folder


def _run(input_folder: Path, lightly: Path, weights: str, **worker: Any) -> lightly_ray.RunResult:
    return lightly_ray.run(
        input_folder,
        lightly,
        worker_config={"pretagging": True, **worker},
        selection_config=SEED_002_BALANCE,
        lightly_config={**FAST_MODEL, "pretagging": {**DETECTOR, "weights": weights}},
        show_progress=False,
    )


@pytest.fixture(scope="module")
def car_datapool_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, lightly_ray.RunResult]:
    """A first datapool run with debug pictures, the car checkpoint finding cars everywhere.

    Returns the folder holding `input` and `lightly`, and the run's result.
    """
    root = tmp_path_factory.mktemp("cars")
    input_folder, lightly = _input(root), root / "lightly"
    car_checkpoint(lightly / "models" / "cars.pt", DETECTOR)
    return root, _run(input_folder, lightly, "models/cars.pt", pretagging_debug=True, use_datapool=True)


def test_pretagging_writes_a_file_per_image_and_frame_and_feeds_selection(
    car_datapool_run: tuple[Path, lightly_ray.RunResult],
) -> None:
    root, result = car_datapool_run
    lightly = root / "lightly"
    folder = lightly / ".lightly" / "predictions" / "lightly_pretagging"
    names = sorted(str(path.relative_to(folder)) for path in folder.rglob("*.json"))
    expected = [f"g{group}_m{member}.json" for group in range(3) for member in range(2)]
    assert names == sorted([*expected, *(f"clips/a-{index}-mp4.json" for index in range(4))])
    for path in folder.rglob("*.json"):
        content = json.loads(path.read_text())
        assert isinstance(content, list) and len(content) == 1
        record = content[0]
        assert list(record) == ["filename", "boxes", "labels", "scores"]
        assert record["filename"] == str(path.relative_to(folder).with_suffix(".png"))
        assert record["labels"], f"{path}: the checkpoint finds cars everywhere"
        assert set(record["labels"]) == {"car"}
        boxes = np.array(record["boxes"])
        assert boxes.shape == (len(record["labels"]), 4)
        assert ((boxes >= 0) & (boxes <= 1)).all()
        assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
        assert all(0.3 <= score <= 1 for score in record["scores"])

    distribution = result.report["predictionDistributions"]["lightly_pretagging"]
    assert distribution["categories"]["categories"] == ["car"]
    assert distribution["objectsPerSample"]["input"]["mean"] > 0
    assert result.report["inputs"]["predictions"]["lightly_pretagging"]["categories"] == list(PRETAG_CLASSES)
    assert len(result.selected) == 4
    debug = Path(result.run_folder) / "pretagging_debug"
    assert len(list(debug.rglob("*.png"))) == 10

    # Label Studio gets the detections of the selected samples as pre-annotations.
    exported = export_tag(str(lightly), result.dataset, INITIAL_TAG, "label-studio", expires_s=60)
    tasks = json.loads(exported.content)
    assert len(tasks) == 4
    for task in tasks:
        (entry,) = task["predictions"]
        boxes = [region for region in entry["result"] if region["from_name"] == "lightly_pretagging"]
        labels = {label for region in boxes for label in region["value"]["rectanglelabels"]}
        assert labels == {"car"}
        assert all(0 <= region["value"]["x"] <= 100 for region in boxes)


def test_seed_002_balance_example_runs_with_random_weights(tmp_path: Path) -> None:
    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    example = SEED_CONFIGS["pretagging_balance"]
    result = lightly_ray.run(
        input_folder,
        lightly,
        **example,
        lightly_config={**FAST_MODEL, "pretagging": {**DETECTOR, "weights": "random"}},
        show_progress=False,
    )
    folder = lightly / ".lightly" / "predictions" / "lightly_pretagging"
    files = list(folder.rglob("*.json"))
    assert len(files) == 10
    for path in files:
        record = json.loads(path.read_text())[0]
        assert set(record["labels"]) <= set(PRETAG_CLASSES)
    # The example asks for 100 of the 10 samples: all are selected, and the report says so.
    assert len(result.selected) == 10
    assert result.report["selection"]["shortfall"] is not None


def test_weights_that_cannot_be_loaded_stop_the_run_before_any_work(tmp_path: Path) -> None:
    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    missing = r"lightly_config\.pretagging\.weights: .models/missing\.pt. does not exist"
    with pytest.raises(ConfigError, match=missing):
        _run(input_folder, lightly, "models/missing.pt")
    (lightly / "models").mkdir(parents=True)
    (lightly / "models" / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"'models/broken.pt' in the lightly location is not a file torch"):
        _run(input_folder, lightly, "models/broken.pt")
    with zipfile.ZipFile(lightly / "models" / "other.pt", "w") as archive:  # a zip, but not torch's
        archive.writestr("notes.txt", "not a checkpoint")
    with pytest.raises(WeightsNotAvailableError, match="cannot be read as a torch checkpoint"):
        _run(input_folder, lightly, "models/other.pt")
    assert not (lightly / ".lightly" / "predictions").exists()


def test_a_datapool_rerun_reads_the_earlier_predictions_back(
    car_datapool_run: tuple[Path, lightly_ray.RunResult], tmp_path: Path
) -> None:
    root, first = car_datapool_run
    input_folder, lightly = copy_run_folders(root, tmp_path)  # the fixture's folders stay as they are
    (input_folder / "new.png").write_bytes(group_image(4, 0))
    selection = {**SEED_002_BALANCE, "n_samples": len(first.selected) + 1}
    second = lightly_ray.run(
        input_folder,
        lightly,
        worker_config={"pretagging": True, "use_datapool": True},
        selection_config=selection,
        lightly_config={**FAST_MODEL, "pretagging": {**DETECTOR, "weights": "models/cars.pt"}},
        show_progress=False,
    )
    assert second.counts["nInput"] == 1, "only the new image is decoded and detected"
    assert second.selected == ["new.png"]
    block = second.report["inputs"]["predictions"]["lightly_pretagging"]
    # The new image's detections come from the pipeline, the 4 preselected samples' from their files.
    assert block["samplesWithPredictions"] == 5 and block["nProblems"] == 0
    distribution = second.report["predictionDistributions"]["lightly_pretagging"]
    assert distribution["objectsPerSample"]["input"]["min"] > 0


def _crop_selection(example: str) -> dict[str, Any]:
    """Seed `example`'s worker and selection blocks for 12 crops, with the car checkpoint."""
    config = SEED_CONFIGS[example]
    detector = {**DETECTOR, "weights": "models/cars.pt", "score_threshold": 0.99}
    return {
        "worker_config": config["worker_config"],
        "selection_config": {**config["selection_config"], "n_samples": 12},
        "lightly_config": {**FAST_MODEL, "pretagging": detector},
    }


def test_crops_of_what_the_detector_finds_are_selected(tmp_path: Path) -> None:
    """Seeds 001 and 002: object level on `lightly_pretagging`.

    The two examples differ only in worker settings they give their default values: they make
    the same configuration, so one run covers both.
    """
    examples = ("object_level_pretagging", "pretagging_crop_selection")
    resolved = [load_config(None, **_crop_selection(example)).model_dump() for example in examples]
    assert resolved[0] == resolved[1]
    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    car_checkpoint(lightly / "models" / "cars.pt", DETECTOR)
    result = lightly_ray.run(
        input_folder, lightly, **_crop_selection(examples[0]), dataset="cars", show_progress=False
    )
    block = result.report["objectLevel"]
    assert block["task"] == "lightly_pretagging" and block["nCrops"] > 12
    assert block["nSelectedCrops"] == 12
    # `inputs` counts the prediction files the detector wrote, one per image and frame (the
    # crops, each with its own detection as its prediction, are counted in objectLevel).
    read = result.report["inputs"]["predictions"]["lightly_pretagging"]
    written = list((lightly / ".lightly" / "predictions" / "lightly_pretagging").rglob("*.json"))
    assert read["files"] == read["validFiles"] == read["samplesWithPredictions"] == len(written) == 10
    assert read["nProblems"] == 0
    crops = Dataset(Location(str(lightly), writable=False), "cars-crops")
    table = crops.read_table(crops.load(), "samples")
    assert table is not None and table.num_rows == 12
    assert set(table.column("category_id").to_pylist()) == {PRETAG_CLASSES.index("car")}
    assert result.selected == sorted(set(table.column("source").to_pylist()))
    for row in table.to_pylist():
        x1, y1, x2, y2 = row["box"]
        picture = lightly / ".lightly" / "datasets" / "cars-crops" / "crops" / row["name"]
        assert picture.exists() and x2 > x1 and y2 > y1


def test_images_are_selected_by_the_diversity_of_the_objects_the_detector_finds(tmp_path: Path) -> None:
    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    car_checkpoint(lightly / "models" / "cars.pt", DETECTOR)
    objects = {
        "input": {"type": "EMBEDDINGS", "task": "lightly_pretagging"},
        "strategy": {"type": "DIVERSITY"},
    }
    result = lightly_ray.run(
        input_folder,
        lightly,
        worker_config={"pretagging": True},
        selection_config={"n_samples": 4, "strategies": [objects]},
        lightly_config={**FAST_MODEL, "pretagging": {**DETECTOR, "weights": "models/cars.pt"}},
        show_progress=False,
    )
    block = result.report["objectEmbeddings"]
    assert block["task"] == "lightly_pretagging" and block["nCrops"] > 4
    assert len(result.selected) == 4 and all("-crop-" not in name for name in result.selected)
    # The detector's files are written for the images and frames as in any pretagging run.
    written = sorted((lightly / ".lightly" / "predictions" / "lightly_pretagging").rglob("*.json"))
    assert len(written) == 10


def test_object_level_without_any_detection_says_why(tmp_path: Path) -> None:
    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    with pytest.raises(LightlyRayError, match="no crops to select from: the detector found no bicycle"):
        lightly_ray.run(
            input_folder,
            lightly,
            worker_config={"pretagging": True, "object_level": {"task_name": "lightly_pretagging"}},
            selection_config=SEED_002_BALANCE,
            lightly_config={**FAST_MODEL, "pretagging": {**DETECTOR, "weights": "random"}},
            show_progress=False,
        )
    (log,) = (lightly / ".lightly" / "runs").glob("*/log.txt")
    assert (
        f"pretagging found no {', '.join(PRETAG_CLASSES)} scoring at least {DETECTOR['score_threshold']:g} "
        "(lightly_config.pretagging.score_threshold) in the 10 images and frames it ran on: random weights "
        "detect nothing; set lightly_config.pretagging.weights to coco or a checkpoint"
    ) in log.read_text()


@pytest.mark.gpu
def test_the_detector_and_the_embedding_model_share_each_gpu(tmp_path: Path) -> None:
    gpus = ray.cluster_resources().get("GPU", 0)  # type: ignore[no-untyped-call]
    assert gpus >= 1, "the test Ray instance sees the CUDA GPU"
    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    car_checkpoint(lightly / "models" / "cars.pt", DETECTOR)  # a detection, so a crop, per box
    result = _run(input_folder, lightly, "models/cars.pt", object_level={"task_name": "lightly_pretagging"})

    log = (Path(result.run_folder) / "log.txt").read_text()
    for stage in ("pretag", "embed"):  # the plan's lines: `3. pretag   faster-rcnn actors, ...`
        line = next(line for line in log.splitlines() if f". {stage} " in line and "actors" in line)
        assert "0.5 GPU per actor" in line, log
    # Every box became a crop and was embedded beside the detector, without running out of memory.
    assert result.report["objectLevel"]["nCrops"] > 10
    assert result.counts["nSelected"] >= 1


@pytest.mark.skipif(not Path(coco_cache_path()).is_file(), reason="COCO weights not in the torch hub cache")
def test_the_coco_detector_loads_and_tags_with_the_seven_classes(tmp_path: Path) -> None:
    state = build_detector_state(PretaggingConfig(weights="coco", **DETECTOR), 0, None)
    cached = torch.load(coco_cache_path(), map_location="cpu", weights_only=True)
    assert all(torch.equal(torch.as_tensor(state[key]), value) for key, value in cached.items())

    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    _run(input_folder, lightly, "coco")
    folder = lightly / ".lightly" / "predictions" / "lightly_pretagging"
    files = sorted(folder.rglob("*.json"))
    assert len(files) == 10  # the 6 images and 4 video frames
    for path in files:
        (record,) = json.loads(path.read_text())
        assert set(record["labels"]) <= set(PRETAG_CLASSES)
