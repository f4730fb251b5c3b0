"""Pretagging on a GPU: the detector and the embedding model share it, and the COCO weights.

Skipped without CUDA (the `gpu` marker; CI has none). The second test also needs torchvision's
COCO weights in the torch hub cache, which nothing here can download.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import ray
import torch

import lightly_ray
from lightly_ray.config.lightly import PretaggingConfig
from lightly_ray.formats.pretag_schema import PRETAG_CLASSES
from lightly_ray.models.detector import build_detector_state, coco_cache_path
from tests.data.car_detector import car_checkpoint
from tests.data.grouped_images import FAST_MODEL, group_image

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("ray_instance")]

IMAGES = 24
DETECTOR = {"score_threshold": 0.3, "image_size": 320, "batch_size": 8}


def _input(root: Path) -> Path:
    folder = root / "input"
    folder.mkdir()
    for index in range(IMAGES):
        (folder / f"g{index % 3}_m{index}.png").write_bytes(group_image(index % 3, index))
    return folder


def _run(input_folder: Path, lightly: Path, weights: str, *, crops: bool) -> lightly_ray.RunResult:
    object_level = {"object_level": {"task_name": "lightly_pretagging"}} if crops else {}
    return lightly_ray.run(
        input_folder,
        lightly,
        worker_config={"pretagging": True, **object_level},
        selection_config={
            "n_samples": 5,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        lightly_config={**FAST_MODEL, "pretagging": {**DETECTOR, "weights": weights}},
        show_progress=False,
    )


def test_the_detector_and_the_embedding_model_share_each_gpu(tmp_path: Path) -> None:
    gpus = ray.cluster_resources().get("GPU", 0)
    assert gpus >= 1, "the test Ray instance sees the CUDA GPU"
    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    car_checkpoint(lightly / "models" / "cars.pt", DETECTOR)  # a detection, so a crop, per box
    result = _run(input_folder, lightly, "models/cars.pt", crops=True)

    log = (Path(result.run_folder) / "log.txt").read_text()
    for stage in ("pretag", "embed"):  # the plan's lines: `3. pretag   faster-rcnn actors, ...`
        line = next(line for line in log.splitlines() if f". {stage} " in line and "actors" in line)
        assert "0.5 GPU per actor" in line, log
    # Every box became a crop and was embedded beside the detector, without running out of memory.
    assert result.report["objectLevel"]["nCrops"] > IMAGES
    assert result.counts["nSelected"] >= 1


@pytest.mark.skipif(not Path(coco_cache_path()).is_file(), reason="COCO weights not in the torch hub cache")
def test_the_coco_detector_loads_and_tags_with_the_seven_classes(tmp_path: Path) -> None:
    settings = PretaggingConfig(weights="coco", **DETECTOR)
    state = build_detector_state(settings, 0, None)
    cached = torch.load(coco_cache_path(), map_location="cpu", weights_only=True)
    assert all(torch.equal(torch.as_tensor(state[key]), value) for key, value in cached.items())

    input_folder, lightly = _input(tmp_path), tmp_path / "lightly"
    _run(input_folder, lightly, "coco", crops=False)
    folder = lightly / ".lightly" / "predictions" / "lightly_pretagging"
    files = sorted(folder.rglob("*.json"))
    assert len(files) == IMAGES
    for path in files:
        (record,) = json.loads(path.read_text())
        assert set(record["labels"]) <= set(PRETAG_CLASSES)
