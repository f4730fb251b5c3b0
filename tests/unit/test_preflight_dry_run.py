"""A dry run, and a run refused before any work, leave the lightly location exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lightly_ray.cli import main
from lightly_ray.datasets import DatasetConflictError
from lightly_ray.datasets.store import STATE_FILE, DatasetState, RunRecord
from lightly_ray.errors import StorageError, UsageError
from lightly_ray.preflight import prepare_run
from lightly_ray.preflight.dataset import list_datasets
from lightly_ray.preflight.locations import check_writable
from lightly_ray.storage import Location
from tests.data.preflight_input import SELECTION, undecoded_images


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path below `root`, hidden ones included: a file's content, None for a folder."""
    return {
        path.relative_to(root).as_posix(): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


@pytest.fixture
def input_folder(tmp_path: Path) -> Path:
    return undecoded_images(tmp_path / "input")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    # Random weights: a dry run that finds pretrained weights it cannot get exits 1.
    random = {"model": {"weights": "random"}}
    path.write_text(yaml.safe_dump({"selection_config": SELECTION, "lightly_config": random}))
    return path


def _dry_run(input_folder: Path, lightly: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    arguments = ["--input", str(input_folder), "--lightly", str(lightly), "--config", str(config)]
    code = main(["run", *arguments, "--dry-run"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.mark.parametrize("lightly_name", ["typo_lt", "typo_lt/nested"])
def test_a_dry_run_creates_no_lightly_location(
    input_folder: Path,
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lightly_name: str,
) -> None:
    before = _tree(tmp_path)
    lightly = tmp_path / lightly_name
    output = _dry_run(input_folder, lightly, config, capsys)
    assert "dry run: nothing is decoded, embedded or written" in output
    assert not (tmp_path / "typo_lt").exists()
    assert _tree(tmp_path) == before


def test_a_dry_run_leaves_an_existing_lightly_location_as_it_was(
    input_folder: Path, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lightly = tmp_path / "lightly"
    (lightly / ".lightly").mkdir(parents=True)
    (lightly / ".lightly" / "relevant_filenames.txt").write_text("img_0.png\n")
    (lightly / "notes.txt").write_text("kept as it is")
    before = _tree(tmp_path)
    assert "input:      " in _dry_run(input_folder, lightly, config, capsys)
    assert _tree(tmp_path) == before
    (lightly / ".lightly" / "relevant_filenames.txt").unlink()
    (lightly / ".lightly").rmdir()
    before = _tree(tmp_path)
    _dry_run(input_folder, lightly, config, capsys)
    assert _tree(tmp_path) == before, "no .lightly/ folder is made in an existing lightly location"


@pytest.mark.parametrize("existing", ["nothing", "the location", "its .lightly folder"])
def test_the_write_check_leaves_nothing_behind(tmp_path: Path, existing: str) -> None:
    lightly = tmp_path / "a" / "lightly"
    if existing != "nothing":
        lightly.mkdir(parents=True)
    if existing == "its .lightly folder":
        (lightly / ".lightly").mkdir()
    before = _tree(tmp_path)
    check_writable(Location(str(lightly), writable=True))
    assert _tree(tmp_path) == before


def test_the_write_check_refuses_what_a_run_could_not_create(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(
        StorageError, match=r"is not writable: cannot create '.*/blocker/lightly/\.lightly': "
    ):
        check_writable(Location(str(blocker / "lightly"), writable=True))
    with pytest.raises(StorageError, match=r"is not a folder"):
        check_writable(Location(str(blocker), writable=True))
    # Never writable, even for root (the tests may run as root, for whom permissions do not count).
    with pytest.raises(StorageError, match=r"lightly location '/proc/self/cannot-write' is not writable: "):
        check_writable(Location("/proc/self/cannot-write", writable=True))
    assert blocker.read_text() == "a file where a folder should be"


def test_a_run_refused_after_the_location_checks_creates_no_lightly_location(
    input_folder: Path, config: Path, tmp_path: Path
) -> None:
    before = _tree(tmp_path)
    with pytest.raises(UsageError, match="--dataset"):
        prepare_run(input_folder, tmp_path / "new_lightly", config=config, dataset="no/slashes")
    assert _tree(tmp_path) == before


def test_a_run_refused_by_the_samples_of_its_dataset_writes_nothing(
    input_folder: Path, config: Path, tmp_path: Path
) -> None:
    lightly = tmp_path / "lightly"
    folder = lightly / ".lightly" / "datasets" / "input"
    folder.mkdir(parents=True)
    record = RunRecord(
        run_id="20261201-000000-aaaaaa",
        tag="first",
        finished="",
        input=str(input_folder),
        selected=2,
        processed=2,
    )
    state = DatasetState(name="input", runs=(record,), tags={"first": "tags/first.txt"})
    (folder / STATE_FILE).write_text(json.dumps(state.to_json()))
    before = _tree(tmp_path)
    with pytest.raises(DatasetConflictError, match="already holds 2 samples"):
        prepare_run(input_folder, lightly, config=config)
    assert _tree(tmp_path) == before


def test_only_datasets_a_run_published_to_are_listed(tmp_path: Path) -> None:
    datasets = tmp_path / ".lightly/datasets"
    (datasets / "published").mkdir(parents=True)
    (datasets / "published" / STATE_FILE).write_text("{}")
    (datasets / "interrupted/cache").mkdir(parents=True)  # what a run that did not finish left
    (datasets / "interrupted/cache/rows.parquet").write_bytes(b"")
    assert list_datasets(Location(str(tmp_path), writable=False)) == ["published"]
