"""One run at a time per dataset, on every kind of storage; a dead run's lock expires."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import lightly_ray
from lightly_ray.datasets import Dataset
from lightly_ray.datasets.lock import SETTLE_S, DatasetLock, DatasetLockedError
from lightly_ray.storage import Location
from tests.data.grouped_images import FAST_MODEL, group_image
from tests.file_opens import FileOpens


@pytest.mark.parametrize("scheme", ["local", "s3", "gs", "az"])
def test_a_second_run_is_refused_until_the_first_releases(
    scheme: str, make_url: Callable[[str, str], str]
) -> None:
    dataset = Dataset(Location(make_url(scheme, "lr-lightly"), writable=True), "cars")
    first = DatasetLock(dataset, "20261202-000000-aaaaaa", settle_s=0.2)
    with first:
        with pytest.raises(DatasetLockedError, match="being written by run 20261202-000000-aaaaaa \\(host "):
            DatasetLock(dataset, "20261202-000001-bbbbbb", settle_s=0.2).acquire()
        claims = [listed.path for listed in dataset.location.list_files(first.folder, include_hidden=True)]
        assert sorted(path.rsplit("/", 1)[-1] for path in claims) == [
            "20261202-000000-aaaaaa.alive",
            "20261202-000000-aaaaaa.json",
        ], "the refused run leaves no claim"
    with DatasetLock(dataset, "20261202-000002-cccccc", settle_s=0.2):
        pass
    assert list(dataset.location.list_files(first.folder, include_hidden=True)) == []


@pytest.mark.parametrize(("scheme", "settle_s"), [("local", 0.2), ("gs", 0.2), ("s3", 1.5), ("az", 1.5)])
def test_the_settle_time_follows_the_stores_time_resolution(
    scheme: str, settle_s: float, make_url: Callable[[str, str], str]
) -> None:
    """Local disks and GCS list sub-second times, S3 and Azure whole seconds (as the real stores)."""
    lock = DatasetLock(Dataset(Location(make_url(scheme, "lr-lightly"), writable=True), "cars"), "run-settle")
    assert lock.settle_s == SETTLE_S
    started = time.monotonic()
    with lock:
        assert lock.settle_s == settle_s
        assert settle_s <= time.monotonic() - started < settle_s + 5


def test_of_two_claims_the_first_wins_and_a_dead_runs_claim_expires(tmp_path: Path) -> None:
    dataset = Dataset(Location(str(tmp_path), writable=True), "cars")
    dead = DatasetLock(dataset, "run-dead", settle_s=0.05)
    dead.acquire()
    dead._stop.set()  # the run dies: no more heartbeats, and nobody removes its claim
    with pytest.raises(DatasetLockedError, match="run-dead"):
        DatasetLock(dataset, "run-new", settle_s=0.05).acquire()
    hour_ago = time.time() - 3600
    for suffix in ("json", "alive"):
        os.utime(tmp_path / f".lightly/datasets/cars/locks/run-dead.{suffix}", (hour_ago, hour_ago))
    with DatasetLock(dataset, "run-new", settle_s=0.05) as taken:
        assert taken._holder() == "run-new"
    assert not (tmp_path / ".lightly/datasets/cars/locks/run-dead.json").exists(), "the dead claim is gone"

    # The claim written first wins, whatever the run ids: run-b claimed ten seconds ago.
    locks = tmp_path / ".lightly/datasets/cars/locks"
    for suffix in ("json", "alive"):
        (locks / f"run-b.{suffix}").write_text("{}")
        os.utime(locks / f"run-b.{suffix}", (time.time() - 10, time.time() - 10))
    with pytest.raises(DatasetLockedError, match="by run run-b"):
        DatasetLock(dataset, "run-a", settle_s=0.05).acquire()


@pytest.mark.usefixtures("ray_instance")
def test_a_run_on_a_locked_dataset_is_refused_before_reading_anything(tmp_path: Path) -> None:
    input_folder, lightly = tmp_path / "cars", tmp_path / "lightly"
    input_folder.mkdir()
    for member in range(3):
        (input_folder / f"m{member}.png").write_bytes(group_image(0, member))
    holder = DatasetLock(Dataset(Location(str(lightly), writable=True), "cars"), "other-run", settle_s=0.05)
    selection = {
        "n_samples": 1,
        "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
    }

    def run() -> lightly_ray.RunResult:
        return lightly_ray.run(
            input_folder, lightly, selection_config=selection, lightly_config=FAST_MODEL, show_progress=False
        )

    with holder, FileOpens(input_folder) as opens, pytest.raises(DatasetLockedError, match="wait for it"):
        run()
    assert not opens.names
    result = run()
    assert result.dataset == "cars" and len(result.selected) == 1


def test_the_claim_of_a_process_gone_from_this_host_is_released_at_once(tmp_path: Path) -> None:
    dataset = Dataset(Location(str(tmp_path), writable=True), "cars")
    gone = subprocess.Popen(["true"])  # a process that is surely gone once waited for
    gone.wait()
    locks = tmp_path / ".lightly/datasets/cars/locks"
    locks.mkdir(parents=True)
    claim = {"run_id": "run-killed", "host": socket.gethostname(), "pid": gone.pid, "started": "then"}
    (locks / "run-killed.json").write_text(json.dumps(claim))
    (locks / "run-killed.alive").write_text("then")
    with DatasetLock(dataset, "run-rerun", settle_s=0.05) as lock:
        assert lock._holder() == "run-rerun"
    elsewhere = {**claim, "host": "another-host"}
    (locks / "run-killed.json").write_text(json.dumps(elsewhere))
    (locks / "run-killed.alive").write_text("then")
    with pytest.raises(DatasetLockedError, match="host another-host"):
        DatasetLock(dataset, "run-rerun", settle_s=0.05).acquire()
