"""Before a run: crops go into a dataset of crops, images into one of images (preflight/dataset.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray.config.run_config import RunConfig
from lightly_ray.datasets import Dataset, DatasetConflictError, RunRecord
from lightly_ray.datasets.rows import FILE_SCHEMA
from lightly_ray.preflight.dataset import check_dataset
from lightly_ray.storage import Location


def _config(**worker: Any) -> RunConfig:
    return RunConfig.model_validate(
        {
            "worker_config": worker,
            "selection_config": {
                "n_samples": 2,
                "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
            },
        }
    )


def _publish(lightly: Location, name: str, crops: bool) -> None:
    dataset = Dataset(lightly, name)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(4, dtype=np.float32)), 2)
    samples = pa.table({"name": ["a.png", "b.png"], "embedding": embedding, "run_id": ["run-1"] * 2})
    if crops:
        samples = samples.append_column("category_id", pa.array([0, 1], pa.int64()))
    files = pa.table({"file": ["a.png"], "size": [1], "mtime_ns": [2]}, schema=FILE_SCHEMA)
    record = RunRecord(run_id="run-1", tag="run-1", finished="now", input="in", selected=2, processed=2)
    dataset.publish(dataset.load(), record, selected=samples, processed=samples, files=files)


@pytest.fixture
def lightly(tmp_path: Path) -> Location:
    location = Location(str(tmp_path / "lightly"), writable=True)
    _publish(location, "photos", crops=False)
    _publish(location, "photos-crops", crops=True)
    return location


def _check(lightly: Location, dataset: str, **worker: Any) -> None:
    check_dataset(lightly, Location("/data/photos", writable=False), _config(**worker), dataset, None)


def test_the_crops_dataset_is_neither_the_runs_dataset_nor_one_of_images(lightly: Location) -> None:
    with pytest.raises(DatasetConflictError, match="'new' is the run's own dataset, which holds its images"):
        _check(lightly, "new", object_level={"task_name": "cars", "crop_dataset_name": "new"})
    with pytest.raises(DatasetConflictError, match="crops dataset 'photos' holds images and frames of 1 run"):
        _check(lightly, "new", object_level={"task_name": "cars", "crop_dataset_name": "photos"})
    # A dataset of crops, or a new one, takes them (seed 000: several runs add to one).
    _check(lightly, "new", object_level={"task_name": "cars", "crop_dataset_name": "photos-crops"})
    _check(lightly, "new", object_level={"task_name": "cars", "crop_dataset_name": "more-crops"})
    _check(lightly, "new", object_level={"task_name": "cars"})


def test_images_do_not_go_into_a_dataset_of_crops(lightly: Location) -> None:
    with pytest.raises(DatasetConflictError, match="'photos-crops' holds the crops of object-level runs"):
        _check(lightly, "photos-crops", use_datapool=True)
    _check(lightly, "photos", use_datapool=True)
