"""The dataset store: publishing is all or nothing, names are checked, state.json is validated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray.datasets import (
    INITIAL_TAG,
    Dataset,
    DatasetConflictError,
    RunRecord,
    check_name,
    default_dataset_name,
)
from lightly_ray.datasets.embedding_cache import resume_from_cache
from lightly_ray.datasets.rows import FILE_SCHEMA, embedding_matrix
from lightly_ray.errors import InputFormatError, UsageError
from lightly_ray.storage import Location


def _samples(names: list[str], run_id: str) -> pa.Table:
    vectors = np.arange(len(names) * 2, dtype=np.float32).reshape(len(names), 2)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 2)
    return pa.table({"name": names, "embedding": embedding, "run_id": [run_id] * len(names)})


def _files(names: list[str]) -> pa.Table:
    return pa.table(
        {"file": names, "size": [1] * len(names), "mtime_ns": [2] * len(names)}, schema=FILE_SCHEMA
    )


def _record(run_id: str, count: int, tag: str | None = None) -> RunRecord:
    return RunRecord(
        run_id=run_id, tag=tag or run_id, finished="now", input="in", selected=count, processed=count
    )


def _publish(dataset: Dataset, run_id: str, names: list[str], tag: str | None = None) -> None:
    previous = dataset.load()
    samples = _samples(names, run_id)
    dataset.publish(
        previous, _record(run_id, len(names), tag), selected=samples, processed=samples, files=_files(names)
    )


def test_runs_add_tags_and_samples(tmp_path: Path) -> None:
    dataset = Dataset(Location(str(tmp_path), writable=True), "cars")
    assert dataset.load().runs == ()
    _publish(dataset, "run-1", ["b.png", "a.png"], tag="first")
    _publish(dataset, "run-2", ["c.png"])
    state = dataset.load()
    assert [run.run_id for run in state.runs] == ["run-1", "run-2"]
    assert state.version == "run-2" and state.sample_count == 3
    assert dataset.read_tag(state, "first") == ["a.png", "b.png"]
    assert dataset.read_tag(state, "run-2") == ["c.png"]
    assert dataset.read_tag(state, INITIAL_TAG) == ["a.png", "b.png", "c.png"]
    samples = dataset.read_table(state, "samples")
    assert samples is not None and samples.column("name").to_pylist() == ["b.png", "a.png", "c.png"]
    assert embedding_matrix(samples).shape == (3, 2)
    with pytest.raises(KeyError, match="has no tag 'missing' \\(its tags: first, initial-tag, run-2\\)"):
        dataset.read_tag(state, "missing")


class _FailsOnState(Location):
    def write_bytes(self, relative: str, data: bytes) -> None:
        if relative.endswith("state.json"):
            raise OSError("killed before the commit")
        super().write_bytes(relative, data)


def test_a_run_that_dies_before_its_state_is_invisible(tmp_path: Path) -> None:
    dataset = Dataset(Location(str(tmp_path), writable=True), "cars")
    _publish(dataset, "run-1", ["a.png"])
    before = dataset.load()
    dying = Dataset(_FailsOnState(str(tmp_path), writable=True), "cars")
    with pytest.raises(OSError, match="killed"):
        _publish(dying, "run-2", ["b.png"])
    assert (tmp_path / ".lightly/datasets/cars/samples/run-2.parquet").exists(), "its files were written"
    after = dataset.load()
    assert after == before, "but nothing references them"
    assert dataset.read_tag(after, INITIAL_TAG) == ["a.png"]
    _publish(dataset, "run-3", ["c.png"])
    assert dataset.read_tag(dataset.load(), INITIAL_TAG) == ["a.png", "c.png"]


def test_two_runs_from_the_same_state_cannot_both_publish(tmp_path: Path) -> None:
    dataset = Dataset(Location(str(tmp_path), writable=True), "cars")
    start = dataset.load()
    samples = _samples(["a.png"], "run-1")
    dataset.publish(start, _record("run-1", 1), selected=samples, processed=samples, files=_files(["a.png"]))
    other = _samples(["b.png"], "run-2")
    with pytest.raises(DatasetConflictError, match="changed while this run ran \\(run run-1 published"):
        dataset.publish(start, _record("run-2", 1), selected=other, processed=other, files=_files(["b.png"]))
    assert [run.run_id for run in dataset.load().runs] == ["run-1"]
    with pytest.raises(DatasetConflictError, match="already has a tag 'run-1'"):
        dataset.publish(
            dataset.load(),
            _record("run-3", 1, tag="run-1"),
            selected=other,
            processed=other,
            files=_files([]),
        )


def test_a_state_file_of_another_format_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / ".lightly/datasets/cars"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text('{"format": "something/9", "runs": []}')
    with pytest.raises(
        InputFormatError, match=r"'\.lightly/datasets/cars/state\.json'.*format is 'something/9'"
    ):
        Dataset(Location(str(tmp_path), writable=False), "cars").load()
    (folder / "state.json").write_text("not json")
    with pytest.raises(InputFormatError, match="cannot be read"):
        Dataset(Location(str(tmp_path), writable=False), "cars").load()


def test_names() -> None:
    assert check_name("pedestrian-videos_2.v1", "--dataset") == "pedestrian-videos_2.v1"
    for bad in ("", "-lead", "a/b", "..", "x" * 101, "space here"):
        with pytest.raises(UsageError, match="is not a valid name"):
            check_name(bad, "--dataset")
    assert default_dataset_name("s3://bucket/raw/videos/") == "videos"
    assert default_dataset_name("gs://bucket") == "bucket"
    assert default_dataset_name("/data/my photos") == "my-photos"
    assert default_dataset_name("az://container/a/__") == "dataset"


def _cached(rows: list[tuple[str, str, int, int, int, int]]) -> pa.Table:
    names, files, sizes, mtimes, indexes, totals = (list(column) for column in zip(*rows, strict=True))
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(len(rows) * 2, dtype=np.float32)), 2)
    return pa.table(
        {
            "name": names,
            "file": files,
            "size": pa.array(sizes, pa.int64()),
            "mtime_ns": pa.array(mtimes, pa.int64()),
            "frame_index": pa.array(indexes, pa.int64()),
            "video_frames": pa.array(totals, pa.int64()),
            "embedding": embedding,
        }
    )


def test_resuming_reuses_only_whole_unchanged_files() -> None:
    listing = pa.table(
        {
            "name": ["a.png", "b.png", "c.mp4", "d.mp4"],
            "size": pa.array([10, 20, 30, 40], pa.int64()),
            "mtime_ns": pa.array([1, 2, 3, None], pa.int64()),
        }
    )
    cached = _cached(
        [
            ("a.png", "a.png", 10, 1, -1, 0),  # unchanged image: reused
            ("b.png", "b.png", 21, 2, -1, 0),  # the file changed size since: not reused
            ("c-0-mp4.png", "c.mp4", 30, 3, 0, 2),  # a video with one of two frames: not reused
            ("d-0-mp4.png", "d.mp4", 40, 0, 0, 2),
            ("d-1-mp4.png", "d.mp4", 40, 0, 1, 2),  # both frames (the store reports no mtime): reused
            ("d-1-mp4.png", "d.mp4", 40, 0, 1, 2),  # written twice by two dead runs: one row
        ]
    )
    remaining, resumed = resume_from_cache(listing, cached)
    assert remaining.column("name").to_pylist() == ["b.png", "c.mp4"]
    assert resumed is not None
    assert resumed.column("name").to_pylist() == ["a.png", "d-0-mp4.png", "d-1-mp4.png"]
    assert resume_from_cache(listing, cached.slice(1, 3)) == (listing, None)
