"""SIGTERM (`kill`, `ray job stop`, Kubernetes) stops a run as Ctrl-C does, and a rerun resumes it.

The run is a `lightly-ray` process in a session of its own with its own RAY_TMPDIR: on failure
the test kills its process group, and the `ray_tmpdir` fixture every process that names that
folder, so nothing it started survives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from lightly_ray.training.loop import STATE_FILE
from tests.cli_process import lightly_ray, processes_naming, start_lightly_ray
from tests.data.grouped_images import FAST_MODEL

pytestmark = pytest.mark.slow

IMAGES = 40
RESUME = (
    "Running the same command again resumes it: it reuses the embeddings in the dataset's embedding cache, "
    "or the last checkpoint of its training"
)


def _input(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(IMAGES):
        pixels = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{index:03d}.jpg")
    return folder


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    strategies = [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}]
    content = {"selection_config": {"n_samples": 5, "strategies": strategies}, "lightly_config": FAST_MODEL}
    path.write_text(yaml.safe_dump(content))
    return path


def _cached_rows(dataset: Path) -> int:
    """Rows in the dataset's embedding cache: its parts are named `<run id>-<n>-<rows>.parquet`."""
    return sum(int(part.stem.rsplit("-", 1)[-1]) for part in dataset.glob("cache/*/*.parquet"))


def _cached_names(dataset: Path) -> set[str]:
    parts = sorted(dataset.glob("cache/*/*.parquet"))
    return {
        name for part in parts for name in pq.read_table(part, columns=["name"]).column("name").to_pylist()
    }


def _sigterm_once(process: subprocess.Popen[str], ready: Callable[[], bool], what: str) -> str:
    """SIGTERM the run once `ready()` (within 150 s); its stderr. On failure its group is killed."""
    try:
        deadline = time.monotonic() + 150
        while not ready() and time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the run ended before {what}: {process.communicate()}")
            time.sleep(0.1)
        assert ready(), f"not in time: {what}"
        process.send_signal(signal.SIGTERM)
        return process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def test_sigterm_stops_the_run_like_ctrl_c_and_a_rerun_resumes(tmp_path: Path, ray_tmpdir: Path) -> None:
    lightly = tmp_path / "lightly"
    dataset = lightly / ".lightly" / "datasets" / "input"
    command = [
        "run", "--input", str(_input(tmp_path / "input")), "--lightly", str(lightly),
        "--config", str(_config(tmp_path)),
    ]  # fmt: skip
    env = {"RAY_TMPDIR": str(ray_tmpdir)}
    process = start_lightly_ray(*command, env=env, new_session=True)
    # during embedding: Ray up, a batch in the cache
    err = _sigterm_once(process, lambda: _cached_rows(dataset) > 0, "it embedded a batch")

    (folder,) = (lightly / ".lightly" / "runs").iterdir()
    message = (
        f"interrupted by SIGTERM: the run stopped before it finished; its folder {folder} has no "
        f"_SUCCESS\n{RESUME}"
    )
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err.rstrip().endswith(f"\nerror: {message}"), err
    assert err.count("error: ") == 1, err
    assert "Traceback" not in err and "SIGTERM received" not in err, err
    assert not (folder / "_SUCCESS").exists()
    log = (folder / "log.txt").read_text()
    assert log.rstrip().endswith(message), log[-2000:]
    assert "unexpected" not in log and "This is a bug" not in log
    assert list((dataset / "locks").iterdir()) == [], "the dataset lock is released"
    assert not (dataset / "state.json").exists(), "nothing was published"
    deadline = time.monotonic() + 15
    while processes_naming(ray_tmpdir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_naming(ray_tmpdir) == {}, "the local Ray instance is stopped"
    cached = _cached_names(dataset)

    rerun = lightly_ray(*command, "--json", env=env, timeout=180)
    assert rerun.code == 0, rerun.err
    document = json.loads(rerun.out)
    assert document["counts"]["nSelected"] == 5
    report = json.loads((Path(document["run_folder"]) / "report.json").read_text())
    assert report["embedding"]["reused"] == len(cached) > 0, "the rerun embeds only what was missing"
    assert (Path(document["run_folder"]) / "_SUCCESS").exists()


def _registered_checkpoint(storage: Path) -> bool:
    """Whether training left a checkpoint a rerun resumes from.

    In Ray Train's local mode (one CPU worker on one node, as here) the loop's own file; with
    Train's actors a checkpoint Ray Train registered (its snapshot names one).
    """
    if list(storage.glob(f"*/{STATE_FILE}")):
        return True
    snapshots = list(storage.glob("*/checkpoint_manager_snapshot.json"))
    return any("checkpoint_" in snapshot.read_text(errors="replace") for snapshot in snapshots)


def test_sigterm_while_training_stops_the_run_and_a_rerun_resumes_the_training(
    tmp_path: Path, ray_tmpdir: Path
) -> None:
    """SIGTERM while training: exit 143, log.txt, the lock released, Ray stopped.

    When fit() ran in a thread of the driver, Ray's shutdown under that thread ended the process
    with exit 1, no log and the lock left, in 2 of 3 tries by hand; a race this test does not
    always hit. The rerun resumes from the last checkpoint.
    """
    lightly, storage = tmp_path / "lightly", tmp_path / "ray-train"
    dataset = lightly / ".lightly" / "datasets" / "input"
    config = yaml.safe_load(_config(tmp_path).read_text())
    config["worker_config"] = {"enable_training": True}
    config["lightly_config"] = {**config["lightly_config"], "trainer": {"max_epochs": 6}}
    config["resources"] = {"training": {"storage_path": str(storage), "checkpoint_every_s": 0}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    command = [
        "run", "--input", str(_input(tmp_path / "input")), "--lightly", str(lightly),
        "--config", str(tmp_path / "train.yaml"),
    ]  # fmt: skip
    env = {"RAY_TMPDIR": str(ray_tmpdir)}
    process = start_lightly_ray(*command, env=env, new_session=True)
    # while training: an epoch checkpointed, more to come
    err = _sigterm_once(process, lambda: _registered_checkpoint(storage), "its first checkpoint")

    (folder,) = (lightly / ".lightly" / "runs").iterdir()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "error: interrupted by SIGTERM: the run stopped before it finished" in err, err
    assert "interrupted by SIGTERM" in (folder / "log.txt").read_text()
    assert list((dataset / "locks").iterdir()) == [], "the dataset lock is released"
    deadline = time.monotonic() + 15
    while processes_naming(ray_tmpdir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_naming(ray_tmpdir) == {}, "the local Ray instance is stopped"

    rerun = lightly_ray(*command, "--json", env=env, timeout=240)
    assert rerun.code == 0, rerun.err
    assert "training resumed from a checkpoint: epochs 1-" in rerun.err, rerun.err
    report = json.loads((Path(json.loads(rerun.out)["run_folder"]) / "report.json").read_text())
    assert [epoch["epoch"] for epoch in report["training"]["epochs"]] == [1, 2, 3, 4, 5, 6]
