"""Datasets, tags and the datapool (seed 004), end to end on a local Ray instance."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import lightly_ray
from lightly_ray.cli import main
from lightly_ray.datasets import INITIAL_TAG, Dataset, DatasetConflictError, plan_datapool
from lightly_ray.datasets.rows import embedding_matrix
from lightly_ray.errors import ConfigError, interrupting_signals, raise_if_interrupted
from lightly_ray.exports.export import export_tag
from lightly_ray.pipeline.listing import list_images
from lightly_ray.storage import Location
from tests.data.grouped_images import FAST_MODEL, GROUPS, PER_GROUP, group_image
from tests.data.videos import make_video
from tests.file_opens import FileOpens
from tests.run_copies import copy_run_folders

pytestmark = pytest.mark.usefixtures("ray_instance")

DIVERSITY = {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}


def _images(root: Path, groups: range, members: range = range(PER_GROUP)) -> None:
    for group in groups:
        for member in members:
            (root / f"g{group}_m{member}.png").write_bytes(group_image(group, member))


def _run(input_folder: Path, lightly: Path, n_samples: int, **options: Any) -> lightly_ray.RunResult:
    worker = options.pop("worker_config", {})
    selection = options.pop("selection_config", {"n_samples": n_samples, "strategies": [DIVERSITY]})
    return lightly_ray.run(
        input=input_folder,
        lightly=lightly,
        worker_config=worker,
        selection_config=selection,
        lightly_config=options.pop("lightly_config", FAST_MODEL),
        show_progress=False,
        **options,
    )


def _state(lightly: Path, name: str) -> dict[str, Any]:
    content: dict[str, Any] = json.loads((lightly / ".lightly/datasets" / name / "state.json").read_text())
    return content


def _tag(lightly: Path, name: str, tag: str) -> list[str]:
    dataset = Dataset(Location(str(lightly), writable=False), name)
    return dataset.read_tag(dataset.load(), tag)


@dataclass(frozen=True)
class GrownDatapool:
    """A datapool run on groups 0 and 1, then one on all groups (embedded in the driver).

    `after_first` holds the input and lightly folders as the first run left them, `folder` as
    the second did; `read_again` names the first run's files the second run opened.
    """

    first: lightly_ray.RunResult
    second: lightly_ray.RunResult
    after_first: Path
    folder: Path
    read_again: set[str]


@pytest.fixture(scope="module")
def grown_datapool(tmp_path_factory: pytest.TempPathFactory) -> GrownDatapool:
    folder, after_first = tmp_path_factory.mktemp("grown"), tmp_path_factory.mktemp("after_first")
    input_folder, lightly = folder / "input", folder / "lightly"
    input_folder.mkdir()
    _images(input_folder, range(2))
    datapool = {"use_datapool": True}
    first = _run(input_folder, lightly, 2, worker_config=datapool)
    copy_run_folders(folder, after_first)
    _images(input_folder, range(2, GROUPS))
    old = {path.name for path in input_folder.iterdir() if path.name.split("_")[0] in ("g0", "g1")}
    with FileOpens(input_folder) as opens:
        second = _run(input_folder, lightly, GROUPS, worker_config=datapool)
    return GrownDatapool(first, second, after_first, folder, opens.names & old)


def test_a_run_publishes_its_selection_as_a_dataset(tmp_path: Path) -> None:
    input_folder, lightly = tmp_path / "photos", tmp_path / "lightly"
    input_folder.mkdir()
    _images(input_folder, range(3), range(3))
    result = _run(input_folder, lightly, 3, tag="first-pass")

    assert result.dataset == "photos", "the default name is the input's last folder"
    assert result.tag == "first-pass"
    state = _state(lightly, "photos")
    assert state["version"] == result.run_id and state["nSamples"] == 3
    assert _tag(lightly, "photos", "first-pass") == result.selected
    assert _tag(lightly, "photos", INITIAL_TAG) == result.selected
    samples = pq.read_table(lightly / ".lightly/datasets/photos" / f"samples/{result.run_id}.parquet")
    assert sorted(samples.column("name").to_pylist()) == result.selected
    assert set(samples.column("run_id").to_pylist()) == {result.run_id}
    assert "lightly_sharpness" in samples.column_names
    embeddings = pq.read_table(Path(result.run_folder) / "embeddings.parquet")
    by_name = dict(zip(embeddings.column("name").to_pylist(), embedding_matrix(embeddings), strict=True))
    for name, vector in zip(samples.column("name").to_pylist(), embedding_matrix(samples), strict=True):
        np.testing.assert_array_equal(vector, by_name[name])
    assert result.report["dataset"]["name"] == "photos"

    with pytest.raises(DatasetConflictError, match=r"use_datapool=true.*--dataset NAME"):
        _run(input_folder, lightly, 3)
    with pytest.raises(DatasetConflictError, match="already has a tag 'first-pass'"):
        _run(input_folder, lightly, 3, worker_config={"use_datapool": True}, tag="first-pass")
    other = _run(input_folder, lightly, 2, dataset="second")
    assert other.dataset == "second" and _tag(lightly, "second", INITIAL_TAG) == other.selected


def test_the_datapool_processes_only_new_files_and_preselects_the_dataset(
    grown_datapool: GrownDatapool, tmp_path: Path
) -> None:
    first, second = grown_datapool.first, grown_datapool.second
    assert sorted(name.split("_")[0] for name in first.selected) == ["g0", "g1"]
    read_again = grown_datapool.read_again
    assert not read_again, f"unchanged files were read again: {sorted(read_again)[:3]}"
    assert second.counts["nInput"] == (GROUPS - 2) * PER_GROUP, "only the new files are processed"
    assert second.counts["nPreselectedDatapool"] == 2
    assert second.counts["nSelected"] == GROUPS - 2, "n_samples counts the preselected samples"
    assert second.counts["nSelectedWithDatapool"] == GROUPS
    assert sorted(name.split("_")[0] for name in second.selected) == ["g2", "g3", "g4"]
    preselected = {p["name"] for p in second.report["embeddingMap"]["points"] if p["group"] == "preselected"}
    assert preselected == set(first.selected)
    pictures = pq.read_table(Path(second.run_folder) / "thumbnails.parquet").column("name").to_pylist()
    assert preselected <= set(pictures), "the first run's pictures of its picks, the input not read"

    # The third run on a copy: the fixture's folders stay as the second run left them.
    input_folder, lightly = copy_run_folders(grown_datapool.folder, tmp_path)
    datapool = {"use_datapool": True}
    state = _state(lightly, "input")
    assert [run["tag"] for run in state["runs"]] == [first.run_id, second.run_id]
    assert _tag(lightly, "input", second.run_id) == second.selected
    assert _tag(lightly, "input", INITIAL_TAG) == sorted(first.selected + second.selected)

    # Nothing new: the run finishes, selects nothing and leaves the dataset as it was.
    third = _run(input_folder, lightly, GROUPS + 2, worker_config=datapool)
    assert third.counts["nInput"] == 0 and third.selected == [] and third.tag == ""
    assert _state(lightly, "input") == state

    # A new file with the bytes of a sample of the dataset is its exact duplicate, not a candidate.
    original = sorted(first.selected)[0]
    shutil.copyfile(input_folder / original, input_folder / "zz_copy.png")
    fourth = _run(input_folder, lightly, GROUPS + 2, worker_config=datapool)
    assert fourth.counts["nInput"] == 1 and fourth.counts["nDuplicate"] == 1
    assert fourth.selected == [] and "zz_copy.png" not in _tag(lightly, "input", INITIAL_TAG)
    assert json.loads((Path(fourth.run_folder) / "duplicates.json").read_text()) == {"zz_copy.png": original}


def test_process_all_reuses_the_embeddings_and_a_changed_model_recomputes(tmp_path: Path) -> None:
    input_folder, lightly = tmp_path / "input", tmp_path / "lightly"
    input_folder.mkdir()
    _images(input_folder, range(3), range(2))
    first = _run(input_folder, lightly, 1, worker_config={"use_datapool": True})
    everything = {"use_datapool": True, "datasource": {"process_all": True}}
    with FileOpens(input_folder) as opens:
        again = _run(input_folder, lightly, 3, worker_config=everything)
    assert opens.names == set(), "process_all reuses the embeddings of unchanged files"
    assert again.report["embedding"]["reused"] == 6
    assert again.counts["nInput"] == 6 and again.counts["nPreselectedDatapool"] == 1
    assert len(again.selected) == 2 and not set(again.selected) & set(first.selected)
    groups = {name.split("_")[0] for name in first.selected + again.selected}
    assert groups == {"g0", "g1", "g2"}, "the new picks keep their distance to the preselected one"

    changed_model = {**FAST_MODEL, "collate": {"input_size": 40}}
    with FileOpens(input_folder) as opens:
        changed = _run(input_folder, lightly, 4, worker_config=everything, lightly_config=changed_model)
    assert opens.names, "other embedding settings embed the files again"
    assert changed.report["embedding"]["reused"] == 0
    assert changed.counts["nPreselectedDatapool"] == 3 and changed.counts["nSelected"] == 1
    log = (Path(changed.run_folder) / "log.txt").read_text()
    assert "embedding settings differ" in log


def test_seed_004_scenario_on_videos(tmp_path: Path) -> None:
    """Three videos, then two more; the second run selects only frames of the new ones."""
    bucket, lightly = tmp_path / "videos", tmp_path / "lightly"
    bucket.mkdir()
    codec = ("libx264", {"g": "10", "preset": "ultrafast"})
    for variant, name in enumerate(["campus4-c0", "passageway1-c1", "terrace1-c0"], start=1):
        make_video(bucket / f"{name}.mp4", *codec, frames=24, variant=variant)

    def selection(distance: float) -> dict[str, Any]:
        strategy = {"type": "DIVERSITY", "stopping_condition_minimum_distance": distance}
        return {"n_samples": 100, "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": strategy}]}

    worker = {"use_datapool": True, "enable_training": False}
    first = _run(bucket, lightly, 0, worker_config=worker, selection_config=selection(0.1))
    assert first.selected, "the first run selects frames"
    for variant, name in enumerate(["campus7-c0", "terrace1-c3"], start=4):
        make_video(bucket / f"{name}.mp4", *codec, frames=24, variant=variant)
    second = _run(bucket, lightly, 0, worker_config=worker, selection_config=selection(0.2))

    new_videos = ("campus7-c0", "terrace1-c3")
    assert second.selected, "the new videos hold frames far from everything selected"
    assert all(name.startswith(new_videos) for name in second.selected)
    assert second.counts["nPreselectedDatapool"] == len(first.selected)
    dataset = Dataset(Location(str(lightly), writable=False), "videos")
    state = dataset.load()
    assert [run.tag for run in state.runs] == [first.run_id, second.run_id]
    assert dataset.read_tag(state, INITIAL_TAG) == sorted(first.selected + second.selected)
    samples = dataset.read_table(state, "samples")
    assert samples is not None
    vectors = dict(zip(samples.column("name").to_pylist(), embedding_matrix(samples), strict=True))
    earlier = np.stack([vectors[name] for name in first.selected])
    for name in second.selected:
        distance = np.sqrt(((earlier - vectors[name]) ** 2).sum(axis=1)).min()
        assert distance >= 0.2, f"{name} is {distance:.3f} from a frame selected before"


def test_datapool_runs_select_whole_sequences_next_to_the_earlier_ones(tmp_path: Path) -> None:
    """Sequences with the datapool: the rerun adds whole sequences of the new video only."""
    bucket, lightly = tmp_path / "videos", tmp_path / "lightly"
    bucket.mkdir()
    codec = ("libx264", {"g": "10", "preset": "ultrafast"})
    for variant, name in enumerate(["a", "b"], start=1):
        make_video(bucket / f"{name}.mp4", *codec, frames=12, variant=variant)
    worker = {"use_datapool": True, "selected_sequence_length": 4}
    first = _run(bucket, lightly, 8, worker_config=worker)
    make_video(bucket / "c.mp4", *codec, frames=12, variant=3)
    second = _run(bucket, lightly, 16, worker_config=worker)

    assert len(first.selected) == 8 and len(second.selected) == 8
    assert all(name.startswith("c-") for name in second.selected), second.selected
    assert second.counts["nPreselectedDatapool"] == 8
    samples = Dataset(Location(str(lightly), writable=False), "videos")
    table = samples.read_table(samples.load(), "samples")
    assert table is not None
    recorded = dict(zip(table.column("name").to_pylist(), table.column("sequence").to_pylist(), strict=True))
    frames = dict(zip(table.column("name").to_pylist(), table.column("frame_index").to_pylist(), strict=True))
    for run in (first, second):
        sequences: dict[str, list[int]] = {}
        for name in run.selected:
            sequences.setdefault(recorded[name], []).append(frames[name])
        assert sorted(sequences) == [f"{run.run_id}/0", f"{run.run_id}/1"]
        for indices in sequences.values():
            start = min(indices)
            assert sorted(indices) == list(range(start, start + 4)) and start % 4 == 0


@pytest.fixture(scope="module")
def four_image_datapool(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, lightly_ray.RunResult]:
    """A datapool run selecting 2 of 2 images of groups 0 and 1: the folder holding its input
    and lightly folders (tests change copies of them), and the run's result."""
    folder = tmp_path_factory.mktemp("four")
    input_folder = folder / "input"
    input_folder.mkdir()
    _images(input_folder, range(2), range(2))
    return folder, _run(input_folder, folder / "lightly", 2, worker_config={"use_datapool": True})


def test_a_changed_file_is_processed_again(
    four_image_datapool: tuple[Path, lightly_ray.RunResult], tmp_path: Path
) -> None:
    input_folder, lightly = copy_run_folders(four_image_datapool[0], tmp_path)
    changed = input_folder / "g1_m1.png"
    shutil.copyfile(input_folder / "g0_m0.png", changed)
    second = _run(input_folder, lightly, 3, worker_config={"use_datapool": True})
    assert second.counts["nInput"] == 1, "only the rewritten file is new"


def test_a_rewritten_sample_of_the_dataset_takes_its_new_embedding(
    four_image_datapool: tuple[Path, lightly_ray.RunResult], tmp_path: Path
) -> None:
    folder, first = four_image_datapool
    input_folder, lightly = copy_run_folders(folder, tmp_path)
    datapool = {"use_datapool": True}
    held = _tag(lightly, "input", INITIAL_TAG)
    rewritten, source = held[0], next(name for name in sorted(first.selected) if name != held[0])
    dataset = Dataset(Location(str(lightly), writable=False), "input")
    state = dataset.load()
    processed = dataset.read_parquet(state.runs[0].processed_file)
    before = {
        name: embedding_matrix(processed.filter(pc.equal(processed.column("name"), name)))[0]
        for name in (rewritten, source)
    }
    assert not np.allclose(before[rewritten], before[source])
    shutil.copyfile(input_folder / source, input_folder / rewritten)

    second = _run(input_folder, lightly, 2, worker_config=datapool)
    assert second.counts["nInput"] == 1, "only the rewritten file is processed"
    exported = export_tag(str(lightly), "input", INITIAL_TAG, "embeddings", expires_s=60)
    rows = {line.split(",")[0]: line.split(",")[1:] for line in exported.content.decode().splitlines()[1:]}
    vectors = {name: np.array([float(value) for value in rows[name][: len(before[name])]]) for name in before}
    np.testing.assert_allclose(vectors[rewritten], before[source], atol=1e-5)
    np.testing.assert_allclose(vectors[source], before[source], atol=1e-5)

    # The next run finds the dataset's row of the sample stale and takes the row its rewrite left.
    state = dataset.load()
    listing = list_images(Location(str(input_folder), writable=False)).table
    plan = plan_datapool(
        listing, dataset, state, state.runs[-1].embedding, use_datapool=True, process_all=False
    )
    assert plan.reembed == [rewritten]
    assert plan.to_process.num_rows == 0, "nothing is decoded again"
    assert plan.unread is not None and plan.unread.to_pylist() == listing.column("name").to_pylist()
    assert plan.reused is not None and plan.reused.column("name").to_pylist() == [rewritten]
    np.testing.assert_allclose(embedding_matrix(plan.reused)[0], before[source], atol=1e-5)


def test_a_tag_of_a_dataset_is_a_query_set(tmp_path: Path) -> None:
    queries, candidates, lightly = tmp_path / "queries", tmp_path / "pool", tmp_path / "lightly"
    queries.mkdir()
    candidates.mkdir()
    _images(queries, range(1), range(2))
    _images(candidates, range(GROUPS), range(3))
    _run(queries, lightly, 2, tag="cars")
    similar: dict[str, Any] = {
        "n_samples": 3,
        "strategies": [
            {
                "input": {"type": "EMBEDDINGS", "dataset_id": "queries", "tag_name": "cars"},
                "strategy": {"type": "SIMILARITY"},
            }
        ],
    }
    result = _run(candidates, lightly, 3, selection_config=similar)
    assert result.selected == ["g0_m0.png", "g0_m1.png", "g0_m2.png"], "the query images' group"

    def refused(dataset_id: str, tag_name: str, **options: Any) -> str:
        wrong = {**similar, "strategies": [{**similar["strategies"][0]}]}
        wrong["strategies"][0]["input"] = {
            "type": "EMBEDDINGS",
            "dataset_id": dataset_id,
            "tag_name": tag_name,
        }
        with FileOpens(candidates) as opens, pytest.raises(ConfigError) as raised:
            _run(candidates, lightly, 3, selection_config=wrong, dataset="other", **options)
        assert not opens.names, "refused before any file is read"
        return str(raised.value)

    no_dataset = refused("trucks", "cars")
    assert "no dataset 'trucks'" in no_dataset and "(its datasets: pool, queries)" in no_dataset
    assert "has no tag 'bikes' (its tags: cars, initial-tag)" in refused("queries", "bikes")
    other_model = {**FAST_MODEL, "collate": {"input_size": 40}}
    assert "embedded with other settings" in refused("queries", "cars", lightly_config=other_model)


def test_a_run_builds_on_what_another_published_after_its_checks(tmp_path: Path) -> None:
    from lightly_ray.preflight import prepare_run

    # The run module without binding it over the package's `run` function.
    execute_run = sys.modules[lightly_ray.run.__module__].execute_run

    input_folder, lightly = tmp_path / "input", tmp_path / "lightly"
    input_folder.mkdir()
    _images(input_folder, range(3), range(2))
    datapool = {
        "worker_config": {"use_datapool": True},
        "selection_config": {"n_samples": 3, "strategies": [DIVERSITY]},
        "lightly_config": FAST_MODEL,
    }
    checked = prepare_run(input_folder, lightly, config=datapool)  # the dataset is empty here
    other = _run(input_folder, lightly, 2, worker_config={"use_datapool": True})
    late = execute_run(checked, show_progress=False)
    assert late.counts["nPreselectedDatapool"] == len(other.selected) == 2
    assert late.counts["nInput"] == 0 and late.selected == [], "every file was processed by the other run"

    without_pool = prepare_run(
        input_folder, lightly, config={**datapool, "worker_config": {}}, dataset="fresh"
    )
    _run(input_folder, lightly, 1, dataset="fresh")
    with pytest.raises(DatasetConflictError, match="already holds 1 samples"):
        execute_run(without_pool, show_progress=False)


def test_a_small_datapool_rerun_embeds_in_the_driver_as_the_actors_do(
    grown_datapool: GrownDatapool, tmp_path: Path
) -> None:
    """A rerun with few new files embeds them without actors; the embeddings equal the actors'.

    The driver's rerun is the fixture's second run (at most 512 new samples: the default); the
    same rerun with 0 starts the Ray Data pipeline.
    """
    input_folder, lightly = copy_run_folders(grown_datapool.after_first, tmp_path)
    _images(input_folder, range(2, GROUPS))
    pipeline = _run(
        input_folder,
        lightly,
        GROUPS,
        worker_config={"use_datapool": True},
        resources={"embed": {"driver_max_samples": 0}},  # 0: always the Ray Data pipeline
    )
    driver = grown_datapool.second
    assert "no pipeline actors start" in (Path(driver.run_folder) / "log.txt").read_text()
    assert "no pipeline actors start" not in (Path(pipeline.run_folder) / "log.txt").read_text()
    assert driver.selected == pipeline.selected
    vectors = [
        pq.read_table(Path(result.run_folder) / "embeddings.parquet").to_pydict()
        for result in (pipeline, driver)
    ]
    assert vectors[0]["name"] == vectors[1]["name"] and len(vectors[0]["name"]) == (GROUPS - 2) * PER_GROUP
    np.testing.assert_allclose(
        np.array(vectors[0]["embedding"]), np.array(vectors[1]["embedding"]), atol=1e-5
    )


def test_a_signal_while_the_run_publishes_waits_until_the_run_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopped between the dataset's state and _SUCCESS, a run would be in the dataset, uncommitted."""
    input_folder, lightly = tmp_path / "photos", tmp_path / "lightly"
    input_folder.mkdir()
    _images(input_folder, range(2), range(3))
    run_module = importlib.import_module("lightly_ray.run")  # the module, not lightly_ray.run()
    publish = run_module.publish_run

    def signalled(*args: Any, **kwargs: Any) -> bool:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)  # the handler has run: the signal waits
        return publish(*args, **kwargs)

    monkeypatch.setattr(run_module, "publish_run", signalled)
    with interrupting_signals():
        result = _run(input_folder, lightly, 2)
        raise_if_interrupted()  # taken by the run, which finished first
    assert (Path(result.run_folder) / "_SUCCESS").exists()
    assert _tag(lightly, "photos", INITIAL_TAG) == result.selected
    assert "SIGINT came while the run published its results; it finished first" in caplog.text


def test_a_rerun_whose_request_the_dataset_reaches_says_so_and_how_to_see_the_new_files_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    input_folder, lightly = tmp_path / "photos", tmp_path / "lightly"
    input_folder.mkdir()
    _images(input_folder, range(2), range(3))
    datapool = {"use_datapool": True}
    first = _run(input_folder, lightly, 3, worker_config=datapool)
    _images(input_folder, range(2, 3), range(3))
    config = tmp_path / "run.yaml"
    selection = {"n_samples": 3, "strategies": [DIVERSITY]}
    config.write_text(
        json.dumps({"worker_config": datapool, "selection_config": selection, "lightly_config": FAST_MODEL})
    )
    arguments = ["--input", str(input_folder), "--lightly", str(lightly), "--config", str(config)]
    assert main(["run", *arguments, "--dry-run"]) == 0
    assert (
        "datapool:   dataset 'photos' holds 3 samples, preselected; 3 of 9 listed files are new (only "
        "they are decoded and candidates; process_all: true makes every file one); n_samples 3 counts "
        "the preselected, which reach it already: nothing new would be selected"
    ) in capsys.readouterr().out
    second = _run(input_folder, lightly, 3, worker_config=datapool)  # the dataset holds 3: none is new
    assert second.selected == [] and second.counts["nPreselectedDatapool"] == len(first.selected)
    assert "3 samples: 0 corrupt, 0 exact duplicates; 3 new candidates, 3 samples preselected" in caplog.text
    assert "reach the 3 requested: none of the 3 new candidates was selected" in caplog.text
    assert "worker_config.datasource.process_all: true" in caplog.text
