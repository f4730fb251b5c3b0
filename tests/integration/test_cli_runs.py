"""Whole runs through the command as a subprocess: what --quiet and --json print, the summary's
wall time, and Ctrl-C (exit 130, no Ray process left, the message and the log name the run
folder; SIGTERM: test_cli_signals.py).

Each test gives its process its own RAY_TMPDIR, so that its Ray instance is found (and proven
gone) by that folder in the processes' command lines.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import yaml

from tests.cli_process import environment, lightly_ray, processes_naming, start_lightly_ray
from tests.data.grouped_images import FAST_MODEL, GROUPS, PER_GROUP

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, n_samples: int) -> Path:
    path = tmp_path / "run.yaml"
    strategies = [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}]
    content = {
        "selection_config": {"n_samples": n_samples, "strategies": strategies},
        "lightly_config": FAST_MODEL,
    }
    path.write_text(yaml.safe_dump(content))
    return path


def _run_args(input_folder: Path | str, lightly: Path, config: Path) -> list[str]:
    return ["run", "--input", str(input_folder), "--lightly", str(lightly), "--config", str(config)]


@pytest.mark.usefixtures("ray_instance")
def test_quiet_json_and_summary(grouped_input: Path, tmp_path: Path, ray_tmpdir: Path) -> None:
    config = _config(tmp_path, 500)
    env = {"RAY_TMPDIR": str(ray_tmpdir)}
    common = _run_args(grouped_input, tmp_path / "lightly", config)
    as_json = lightly_ray(*common, "--quiet", "--json", env=env)
    assert as_json.code == 0, as_json.err
    assert as_json.err == "", "--quiet prints nothing but errors (no Ray lines)"
    document = json.loads(as_json.out)  # stdout is exactly one JSON document
    candidates = GROUPS * PER_GROUP
    assert document["requested"] == 500
    assert document["counts"]["nSelected"] == candidates
    assert document["shortfall"]["reason"] == "input_smaller_than_requested"
    # The command's time and the run's own (report.json's), each named.
    assert document["unit"] == "samples"
    assert document["run_duration_s"] <= document["duration_s"]
    folder = Path(document["run_folder"])
    log = (folder / "log.txt").read_text()
    assert "ray | " in log, "Ray's own lines go to the run's log"

    # The summary's lines need no Ray of the command's own: this one joins the session's.
    address = ray.get_runtime_context().gcs_address
    plain = lightly_ray(*common, "--quiet", "--dataset", "plain", "--address", address, env=env)
    assert plain.code == 0 and plain.err == ""
    assert "  requested:  500 samples\n" in plain.out
    assert f"  selected:   {candidates} of {candidates} candidates (stopped: budget)" in plain.out
    assert "  why fewer:  500 samples were requested but the input has only" in plain.out
    match = re.search(
        r"finished in ([0-9.]+)s \(the command; the run itself ([0-9.]+)s, as in report.json\)", plain.out
    )
    assert match is not None
    run_id = re.search(r"Run (\S+) finished", plain.out)
    assert run_id is not None
    report = json.loads((tmp_path / "lightly" / ".lightly" / "runs" / run_id[1] / "report.json").read_text())
    # The whole command's wall time: at least the run's, at most what the test measured.
    assert report["run"]["durationSeconds"] <= float(match[1]) + 0.05 <= plain.seconds + 0.1
    assert f"{report['run']['durationSeconds']:.1f}" == match[2]

    verbose = lightly_ray(*common, "selection_config.n_samples=3", "--dataset", "verbose", env=env)
    assert verbose.code == 0
    assert "[lightly-ray] configuration and locations checked in" in verbose.err
    assert "Token authentication" not in verbose.err and "core_worker" not in verbose.err
    assert processes_naming(ray_tmpdir) == {}


def test_ctrl_c_stops_the_run_and_leaves_no_ray_process(
    grouped_input: Path, tmp_path: Path, ray_tmpdir: Path
) -> None:
    lightly = tmp_path / "lightly"
    process = start_lightly_ray(
        *_run_args(grouped_input, lightly, _config(tmp_path, 3)), env={"RAY_TMPDIR": str(ray_tmpdir)}
    )
    try:
        deadline = time.monotonic() + 120
        while not processes_naming(ray_tmpdir) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        if process.poll() is not None:
            pytest.fail(f"the run ended before Ray started: {process.communicate()}")
        assert processes_naming(ray_tmpdir), "Ray did not start"
        time.sleep(3)  # inside the run: Ray up, the pipeline starting
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        stopped_after = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert stopped_after < 30
    assert "Traceback" not in err
    (folder,) = (lightly / ".lightly" / "runs").iterdir()
    message = (
        f"interrupted by SIGINT: the run stopped before it finished; its folder {folder} has no "
        "_SUCCESS\nRunning the same command again resumes it: it reuses the embeddings in the "
        "dataset's embedding cache, or the last checkpoint of its training"
    )
    assert err.rstrip().endswith(f"\nerror: {message}"), err
    deadline = time.monotonic() + 15
    while processes_naming(ray_tmpdir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_naming(ray_tmpdir) == {}
    assert not (folder / "_SUCCESS").exists()
    assert (folder / "log.txt").read_text().rstrip().endswith(message)


def test_version_and_help() -> None:
    version = lightly_ray("--version")
    assert version.code == 0 and re.fullmatch(r"lightly-ray \d+\.\d+\.\d+\n", version.out)
    run_help = lightly_ray("run", "--help")
    assert run_help.code == 0
    required = run_help.out.split("required:", 1)[1]
    assert "--input" in required and "--lightly" in required
    for option in ("--quiet", "--json", "--debug", "--address", "--connect-timeout"):
        assert option in run_help.out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def head_node(ray_tmpdir: Path) -> Iterator[str]:
    """A real one-node Ray cluster started with `ray start` on 127.0.0.2 (stopped by its PID)."""
    port = _free_port()
    command = [
        str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
        "--node-ip-address=127.0.0.2", f"--port={port}", "--num-cpus=2",
        "--object-store-memory=300000000", "--include-dashboard=false",
        f"--ray-client-server-port={_free_port()}", f"--temp-dir={ray_tmpdir}",
    ]  # fmt: skip
    env = environment({"RAY_AUTH_MODE": "disabled", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "2"})
    head = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.2", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the head node did not start")
        time.sleep(3)  # the raylet registers after the GCS listens
        yield f"127.0.0.2:{port}"
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def test_a_run_joins_a_cluster_and_leaves_it_running(
    grouped_input: Path, tmp_path: Path, head_node: str, ray_tmpdir: Path
) -> None:
    # The input is given relative to the command's folder: the cluster's workers run elsewhere.
    workdir = grouped_input.parent
    finished = lightly_ray(
        *_run_args(grouped_input.name, tmp_path / "lightly", _config(tmp_path, 3)),
        "--address",
        head_node,
        "--quiet",
        cwd=workdir,
        env={"RAY_AUTH_MODE": "disabled"},
    )
    assert finished.code == 0, finished.err
    assert "selected:   3 of 30 candidates" in finished.out
    assert processes_naming(ray_tmpdir), "joining a cluster must not stop it"


def test_dry_run_lists_and_plans_and_writes_nothing(grouped_input: Path, tmp_path: Path) -> None:
    lightly = tmp_path / "lightly"
    common = _run_args(grouped_input, lightly, _config(tmp_path, 3))
    finished = lightly_ray(*common, "--dry-run")
    assert finished.code == 0, finished.err
    assert f"input:      {grouped_input}: {GROUPS * PER_GROUP + 2} images, 0 videos" in finished.out
    assert "not read:   1 .txt" in finished.out
    assert "selection:  n_samples 3; DIVERSITY on EMBEDDINGS" in finished.out
    assert "2. decode   tasks, up to" in finished.out and "3. embed    resnet-18 actors, 1 to" in finished.out
    assert not (lightly / ".lightly" / "runs").exists()
    document = json.loads(lightly_ray(*common, "--dry-run", "--json").out)
    assert document["images"] == GROUPS * PER_GROUP + 2 and document["otherFiles"] == {".txt": 1}
    assert len(document["plan"]) == 3 and document["training"] is None
    training = lightly_ray(
        *common, "--dry-run", "worker_config.enable_training=true", "trainer.max_epochs=7", "trainer.gpus=0"
    )
    assert training.code == 0, training.err
    assert "training before embed: 7 epochs of SimCLR on Ray Train, 1 CPU worker" in training.out
