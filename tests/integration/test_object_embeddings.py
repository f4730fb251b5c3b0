"""EMBEDDINGS with `task` end to end: images are selected by how diverse their objects are.

The run cuts the task's boxes as object level does, embeds the crops with the images, and
selects images: an image's diversity is the mean over its objects, and selecting an image adds
all its objects to the selected set. The test takes every crop's embedding from an object-level
run of the same task on the same images (its crops dataset then holds all of them) and checks
that the run picks exactly what the selection engine picks from those crop embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lightly_ray
from lightly_ray.config import load_config
from lightly_ray.datasets import Dataset
from lightly_ray.datasets.rows import embedding_matrix
from lightly_ray.errors import ConfigError, NotYetSupportedError
from lightly_ray.selection.data import ObjectEmbeddings, SelectionData
from lightly_ray.selection.engine import select
from lightly_ray.selection.inputs import build_problem
from lightly_ray.storage import Location
from tests.data.boxed_scenes import TASK, boxed_scene
from tests.data.grouped_images import FAST_MODEL
from tests.data.seed_configs import SEED_CONFIGS

pytestmark = pytest.mark.usefixtures("ray_instance")

OBJECT_DIVERSITY: dict[str, Any] = {
    "n_samples": 3,
    "strategies": [{"input": {"type": "EMBEDDINGS", "task": TASK}, "strategy": {"type": "DIVERSITY"}}],
}


def _scene(tmp_path: Path) -> tuple[Path, Path]:
    root, lightly = tmp_path / "images", tmp_path / "lightly"
    root.mkdir()
    boxed_scene(root, lightly, count=6)
    # One image without objects: it holds no object embedding, so object diversity never favours it.
    empty = root / "img_5.png"
    (lightly / ".lightly" / "predictions" / TASK / "img_5.json").write_text(
        json.dumps({"file_name": empty.name, "predictions": []})
    )
    return root, lightly


def test_images_are_selected_by_the_diversity_of_their_objects(tmp_path: Path) -> None:
    root, lightly = _scene(tmp_path)
    result = lightly_ray.run(
        root,
        lightly,
        selection_config=OBJECT_DIVERSITY,
        lightly_config=FAST_MODEL,
        dataset="images",
        show_progress=False,
    )
    block = result.report["objectEmbeddings"]
    assert block["task"] == TASK
    assert (block["nBoxes"], block["nCrops"], block["nSkipped"]) == (12, 10, 2)
    assert "objectLevel" not in result.report
    assert all("-crop-" not in name for name in result.selected), "images are selected, not crops"
    assert len(result.selected) == 3

    # Every crop's embedding, from an object-level run that selects all crops of the same task.
    everything = lightly_ray.run(
        root,
        lightly,
        worker_config={"object_level": {"task_name": TASK}},
        selection_config={
            "n_samples": 10,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        lightly_config=FAST_MODEL,
        dataset="all",
        show_progress=False,
    )
    assert everything.report["objectLevel"]["nSelectedCrops"] == 10
    crops = Dataset(Location(str(lightly), writable=False), "all-crops")
    table = crops.read_table(crops.load(), "samples")
    assert table is not None and table.num_rows == 10
    images = sorted(path.name for path in root.iterdir())
    group = np.array([images.index(source) for source in table.column("source").to_pylist()])
    data = SelectionData(
        names=images,
        embeddings=np.zeros((len(images), 4), dtype=np.float32),
        object_embeddings={TASK: ObjectEmbeddings(embeddings=embedding_matrix(table), candidate_index=group)},
    )
    config = load_config({"selection_config": OBJECT_DIVERSITY})
    expected = sorted(images[index] for index in select(build_problem(config.selection_config, data)).indices)
    assert result.selected == expected
    assert "img_5.png" not in result.selected


def test_object_embeddings_need_a_detection_task_and_no_object_level(tmp_path: Path) -> None:
    root, lightly = _scene(tmp_path)
    with pytest.raises(ConfigError, match="objects are the candidates"):
        lightly_ray.run(
            root,
            lightly,
            worker_config={"object_level": {"task_name": TASK}},
            selection_config=OBJECT_DIVERSITY,
            lightly_config=FAST_MODEL,
            show_progress=False,
        )
    with pytest.raises(ConfigError, match="not listed in"):
        lightly_ray.run(
            root,
            lightly,
            selection_config={
                **OBJECT_DIVERSITY,
                "strategies": [
                    {"input": {"type": "EMBEDDINGS", "task": "cars"}, "strategy": {"type": "DIVERSITY"}}
                ],
            },
            lightly_config=FAST_MODEL,
            show_progress=False,
        )
    predictions = lightly / ".lightly" / "predictions"
    (predictions / "tasks.json").write_text(json.dumps([TASK, "weather"]))
    (predictions / "weather").mkdir()
    classes = {"task_type": "classification", "categories": [{"id": 0, "name": "sunny"}]}
    (predictions / "weather" / "schema.json").write_text(json.dumps(classes))
    with pytest.raises(ConfigError, match="task 'weather' is classification; EMBEDDINGS with a task"):
        lightly_ray.run(
            root,
            lightly,
            selection_config={
                **OBJECT_DIVERSITY,
                "strategies": [
                    {"input": {"type": "EMBEDDINGS", "task": "weather"}, "strategy": {"type": "DIVERSITY"}}
                ],
            },
            lightly_config=FAST_MODEL,
            show_progress=False,
        )
    with pytest.raises(NotYetSupportedError, match="use_datapool"):
        lightly_ray.run(
            root,
            lightly,
            worker_config={"use_datapool": True},
            selection_config=OBJECT_DIVERSITY,
            lightly_config=FAST_MODEL,
            show_progress=False,
        )


def test_the_seed_example_runs(tmp_path: Path) -> None:
    root, lightly = tmp_path / "images", tmp_path / "lightly"
    root.mkdir()
    example = SEED_CONFIGS["object_diversity"]
    task = example["selection_config"]["strategies"][0]["input"]["task"]
    boxed_scene(root, lightly, count=3, task=task)
    result = lightly_ray.run(root, lightly, **example, lightly_config=FAST_MODEL, show_progress=False)
    assert result.selected == ["img_0.png", "img_1.png", "img_2.png"]  # 100 asked, 3 images
    assert result.report["objectEmbeddings"]["nCrops"] == 6
