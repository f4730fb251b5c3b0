"""Object level end to end (seeds 000 and 001): crops of a detection task's boxes are the samples.

Images are generated with coloured rectangles at known places, and the task's prediction files
name exactly those rectangles (plus boxes with no area or outside the image), so the test knows
what every crop must show and how large it must be.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import lightly_ray
from lightly_ray.datasets import INITIAL_TAG, Dataset
from lightly_ray.datasets.current_rows import current_samples
from lightly_ray.errors import ConfigError
from lightly_ray.exports.export import export_tag
from lightly_ray.storage import Location
from tests.data.boxed_scenes import COLOURS, HEIGHT, TASK, WIDTH, boxed_scene
from tests.data.grouped_images import FAST_MODEL
from tests.data.label_studio import TASKS_SCHEMA, check_against_config
from tests.data.seed_configs import SEED_CONFIGS

pytestmark = pytest.mark.usefixtures("ray_instance")

PADDING = 0.2


def _expected_crop(box: list[float]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    cx, cy, hw, hh = x + w / 2, y + h / 2, w * (1 + PADDING) / 2, h * (1 + PADDING) / 2
    return (
        max(0, math.floor(cx - hw)),
        max(0, math.floor(cy - hh)),
        min(WIDTH, math.ceil(cx + hw)),
        min(HEIGHT, math.ceil(cy + hh)),
    )


def _run(root: Path, lightly: Path, n_samples: int, **worker: Any) -> lightly_ray.RunResult:
    dataset = worker.pop("dataset", None)
    datapool = worker.pop("use_datapool", False)
    return lightly_ray.run(
        root,
        lightly,
        worker_config={
            "object_level": {"task_name": TASK, "padding": PADDING, **worker},
            "use_datapool": datapool,
        },
        selection_config={
            "n_samples": n_samples,
            "strategies": [
                {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
                {
                    "input": {"type": "SCORES", "task": TASK, "score": "object_frequency"},
                    "strategy": {"type": "WEIGHTS"},
                },
            ],
        },
        lightly_config=FAST_MODEL,
        dataset=dataset,
        show_progress=False,
    )


def test_crops_of_a_task_are_selected_and_written_to_a_crops_dataset(tmp_path: Path) -> None:
    root, lightly = tmp_path / "images", tmp_path / "lightly"
    root.mkdir()
    scenes = boxed_scene(root, lightly)
    result = _run(root, lightly, 3, dataset="shapes")

    block = result.report["objectLevel"]
    assert (block["nBoxes"], block["nCrops"], block["nSkipped"], block["nNotDecoded"]) == (10, 8, 2, 0)
    assert sorted(item["why"].split(" ")[-1] for item in block["skipped"]) == ["area", "image"]
    assert {item["file"] for item in block["skipped"]} == {"img_0.png"}
    assert block["cropsDataset"] == "shapes-crops" and block["nSelectedCrops"] == 3
    # Selection counts crops, datasetSizes images: the summary says which is which.
    assert result.report["selection"]["unit"] == "crops"
    assert (result.report["selection"]["nCandidates"], result.report["selection"]["nSelected"]) == (8, 3)
    images = len(result.selected)
    assert result.counts["nSelected"] == result.counts["nSelectedWithDatapool"] == images
    summary = result.summary()
    assert "  input:      4 images (0 corrupt, 0 exact duplicates)\n" in summary
    assert "  requested:  3 crops\n" in summary
    assert f"  selected:   3 of 8 candidate crops, from {images} image" in summary
    # report.json's inputs count the task's files (one per image), not its 8 crops.
    files = result.report["inputs"]["predictions"][TASK]
    assert (files["files"], files["validFiles"], files["samplesWithPredictions"]) == (4, 4, 4)

    crops = Dataset(Location(str(lightly), writable=False), "shapes-crops")
    state = crops.load()
    table = crops.read_table(state, "samples")
    assert table is not None and table.num_rows == 3
    rows = table.to_pylist()
    # The full images of the selected crops are the run's selection.
    assert result.selected == sorted({row["source"] for row in rows})
    for row in rows:
        prediction = scenes[row["source"]][row["box_index"]]
        assert row["category_id"] == prediction["category_id"]
        assert row["score"] == pytest.approx(prediction["score"], abs=1e-6)
        assert tuple(row["box"]) == _expected_crop(prediction["bbox"])
        assert len(row["embedding"]) == 32
        assert row["picture"] == f"crops/{row['name']}"
        picture = Image.open(lightly / ".lightly" / "datasets" / "shapes-crops" / row["picture"])
        x1, y1, x2, y2 = row["box"]
        assert picture.size == (x2 - x1, y2 - y1)
        centre = np.asarray(picture.convert("RGB"))[(y2 - y1) // 2, (x2 - x1) // 2]
        assert tuple(centre) == COLOURS[row["category_id"]], "a crop shows its object"
    assert crops.read_tag(state, INITIAL_TAG) == sorted(row["name"] for row in rows)
    selection = pq.read_table(Path(result.run_folder) / "selection.parquet")
    assert sorted(selection.column("name").to_pylist()) == sorted(row["name"] for row in rows)

    # A second run (another image dataset) adds to the same crops dataset.
    second = _run(root, lightly, 2, dataset="more", crop_dataset_name="shapes-crops")
    state = crops.load()
    assert [run.run_id for run in state.runs] == [result.run_id, second.run_id]
    assert len(crops.read_tag(state, INITIAL_TAG)) >= 3

    # Label Studio gets each crop's category (its box's) as a classification to confirm.
    exported = export_tag(str(lightly), "shapes-crops", INITIAL_TAG, "label-studio", expires_s=60)
    tasks, config = json.loads(exported.content), exported.companions[".label_config.xml"].decode()
    jsonschema.validate(tasks, TASKS_SCHEMA)
    assert check_against_config(tasks, config) == []
    held = current_samples(crops, state)
    assert held is not None
    category = {row["name"]: ("red", "blue")[row["category_id"]] for row in held.to_pylist()}
    placed = {row["name"]: (row["source"], row["box"]) for row in held.to_pylist()}
    for task in tasks:  # where each crop was cut
        assert (task["data"]["source"], task["data"]["box"]) == placed[task["data"]["name"]]
    assert len(tasks) == len(category) and "with pre-annotations" in exported.message
    for task in tasks:
        (entry,) = task["predictions"]
        (region,) = entry["result"]
        assert (entry["model_version"], region["type"]) == (TASK, "choices")
        assert region["value"]["choices"] == [category[task["data"]["name"]]]


def test_inputs_crops_do_not_have_are_configuration_errors(tmp_path: Path) -> None:
    root, lightly = tmp_path / "images", tmp_path / "lightly"
    root.mkdir()
    boxed_scene(root, lightly, count=1)
    with pytest.raises(ConfigError, match="crops have lightly"):
        lightly_ray.run(
            root,
            lightly,
            worker_config={"object_level": {"task_name": TASK}},
            selection_config={
                "n_samples": 1,
                "strategies": [
                    {"input": {"type": "METADATA", "key": "weather"}, "strategy": {"type": "WEIGHTS"}}
                ],
            },
            lightly_config=FAST_MODEL,
            show_progress=False,
        )


@pytest.mark.parametrize("example", ["object_level", "object_level_with_active_learning"])
def test_the_seed_examples_run(example: str, tmp_path: Path) -> None:
    root, lightly = tmp_path / "images", tmp_path / "lightly"
    root.mkdir()
    boxed_scene(root, lightly, count=3, task="vehicles_object_detections")
    config = {**SEED_CONFIGS[example], "lightly_config": FAST_MODEL}
    result = lightly_ray.run(root, lightly, **config, show_progress=False)
    # 100 crops are asked for and 6 can be cut: all of them, and so all three images.
    assert result.report["objectLevel"]["nSelectedCrops"] == 6
    assert result.selected == ["img_0.png", "img_1.png", "img_2.png"]


def test_a_datapool_rerun_selects_crops_of_new_images_beside_the_crops_dataset(tmp_path: Path) -> None:
    """Seed 000: several object-level runs on one dataset add to its crops dataset."""
    root, lightly, later = tmp_path / "images", tmp_path / "lightly", tmp_path / "later"
    root.mkdir()
    later.mkdir()
    boxed_scene(root, lightly, count=4)
    first = _run(root, lightly, 3, dataset="shapes", use_datapool=True)
    # Two more images with their prediction files (made as the first ones, then moved in).
    boxed_scene(later, tmp_path / "later-lightly", count=6)
    for index in (4, 5):
        (later / f"img_{index}.png").rename(root / f"img_{index}.png")
        prediction = Path(".lightly") / "predictions" / TASK / f"img_{index}.json"
        (tmp_path / "later-lightly" / prediction).rename(lightly / prediction)
    second = _run(root, lightly, 5, dataset="shapes", use_datapool=True)

    # The crops dataset's 3 crops are preselected and count toward the 5; the 2 new picks are
    # crops of the new images, whose full images are the run's selection. datasetSizes count
    # the image dataset's images: those of the first run's crops, and the new ones beside them.
    selection = second.report["selection"]
    assert (selection["unit"], selection["nPreselected"], selection["nSelected"]) == ("crops", 3, 2)
    assert second.report["objectLevel"]["nPreselectedCrops"] == 3
    assert second.counts["nPreselectedDatapool"] == len(first.selected)
    assert second.report["objectLevel"]["nSelectedCrops"] == 2
    held = Dataset(Location(str(lightly), writable=False), "shapes")
    assert second.counts["nSelectedWithDatapool"] == len(held.read_tag(held.load(), INITIAL_TAG))
    assert "beside 3 preselected from shapes-crops" in second.summary()
    assert second.selected and set(second.selected) <= {"img_4.png", "img_5.png"}
    crops = Dataset(Location(str(lightly), writable=False), "shapes-crops")
    state = crops.load()
    assert [run.run_id for run in state.runs] == [first.run_id, second.run_id]
    names = crops.read_tag(state, INITIAL_TAG)
    assert len(names) == 5
    assert sum(name.startswith(("img_4-", "img_5-")) for name in names) == 2
    images = Dataset(Location(str(lightly), writable=False), "shapes")
    assert set(second.selected) <= set(images.read_tag(images.load(), INITIAL_TAG))

    # Nothing new: a third run selects nothing and leaves both datasets as they are.
    third = _run(root, lightly, 5, dataset="shapes", use_datapool=True)
    assert third.selected == [] and third.report["objectLevel"]["nCrops"] == 0
    assert len(crops.read_tag(crops.load(), INITIAL_TAG)) == 5
    assert [run.run_id for run in crops.load().runs] == [first.run_id, second.run_id], "no empty run added"
