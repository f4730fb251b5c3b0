"""A curation run on a real multi-node Ray cluster, submitted as a Ray job, and one that loses a node.

The cluster is three `ray start` processes on this machine (tests/local_cluster.py): a head
without CPUs (drivers and the job server), a worker for decoding, and a "model node" whose
custom resource `model_node` stands in for a GPU: the model actors ask for it
(`resources.*.custom_resources`), so they may run only there, while decode tasks run on both
workers. The run (images and a video, pretagging, object level on the detector's crops) is
submitted with `ray job submit` through jobs/curate.py, and must select exactly what the same
run selects on the test session's single-node Ray.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import lightly_ray
from tests.data.car_detector import car_checkpoint
from tests.data.grouped_images import group_image
from tests.data.videos import make_video
from tests.local_cluster import LocalCluster, cluster_env

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
MODEL_NODE = "model_node"
# One thread and batches of one: a sample's numbers do not depend on which samples share its
# batch, which differs between the cluster and the single node (their block sizes differ).
PINNED = {"custom_resources": {MODEL_NODE: 0.5}, "cpus_per_actor": 0.5, "torch_threads": 1}
DETECTOR = {"weights": "models/cars.pt", "score_threshold": 0.99, "image_size": 64, "batch_size": 1}
CONFIG: dict[str, Any] = {
    "worker_config": {"pretagging": True, "object_level": {"task_name": "lightly_pretagging"}},
    "selection_config": {
        "n_samples": 6,
        "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
    },
    "lightly_config": {
        "model": {"name": "resnet-18", "out_dim": 32, "weights": "random"},
        "collate": {"input_size": 32},
        "pretagging": DETECTOR,
        "seed": 3,
    },
    "resources": {"pretag": PINNED, "embed": {**PINNED, "batch_size": 1}},
}
# The same run on the test session's one node, which has no model_node.
UNPINNED = {"cpus_per_actor": 0.5, "torch_threads": 1}
SINGLE_NODE = {**CONFIG, "resources": {"pretag": UNPINNED, "embed": {**UNPINNED, "batch_size": 1}}}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # A short folder: Ray's socket paths under it must stay within 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="lrc-", dir="/tmp"))
    started = LocalCluster(folder)
    try:
        started.start_head()
        # One at a time: nodes on one address that start together can miss their own node info.
        started.start_worker("decoder", cpus=2)
        started.wait_for_nodes(2)
        started.start_worker("model", cpus=2, resources={MODEL_NODE: 1})
        started.wait_for_nodes(3)
        started.wait_for_job_agent()
        yield started
    finally:
        started.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _lightly(root: Path) -> Path:
    """A lightly location holding the detector's checkpoint."""
    car_checkpoint(root / "models" / "cars.pt", {k: v for k, v in DETECTOR.items() if k != "weights"})
    return root


@pytest.fixture(scope="module")
def input_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("multinode-input")
    (folder / "clips").mkdir()
    for group in range(3):
        for member in range(2):
            (folder / f"g{group}_m{member}.png").write_bytes(group_image(group, member))
    make_video(folder / "clips" / "a.mp4", "libx264", {"g": "5", "preset": "ultrafast"}, frames=6)
    return folder


@pytest.fixture(scope="module")
def single_node(
    ray_instance: None, input_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> lightly_ray.RunResult:
    """The run on the test session's single node: what the cluster's runs must select."""
    lightly = _lightly(tmp_path_factory.mktemp("single-lightly"))
    return lightly_ray.run(input_folder, lightly, config=SINGLE_NODE, show_progress=False)


def _submit(
    cluster: LocalCluster, config: Path, input_folder: Path, lightly: Path, job: str
) -> subprocess.Popen[str]:
    command = [
        RAY,
        "job",
        "submit",
        f"--address={cluster.dashboard}",
        f"--submission-id={job}",
        "--",
        sys.executable,
        str(REPO / "jobs" / "curate.py"),
        "--config",
        str(config),
        "--input",
        str(input_folder),
        "--lightly",
        str(lightly),
        "--quiet",
        "--json",
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cluster_env(cluster.temp_dir),
    )


def _result(process: subprocess.Popen[str], cluster: LocalCluster) -> dict[str, Any]:
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, f"{output[-4000:]}\n{cluster.logs()}"
    document = output[output.index("{") : output.rindex("}") + 1]
    result: dict[str, Any] = json.loads(document)
    return result


def _placement(cluster: LocalCluster, job: str) -> dict[str, set[str]]:
    """By kind of work (decode, pretag, embed): the nodes its tasks ran on, from Ray's state API."""
    job_id = cluster.job(job).get("job_id")
    tasks = cluster.state("tasks", job_id=job_id) if job_id else []
    kinds = {"decode": "decode_units", "pretag": "PretagImages", "embed": "EmbedImages"}
    placement: dict[str, set[str]] = {kind: set() for kind in kinds}
    for task in tasks:
        for kind, marker in kinds.items():
            if marker in task["name"] and task.get("node_id"):
                placement[kind].add(task["node_id"])
    return placement


def _node_ids(cluster: LocalCluster) -> dict[str, str]:
    nodes = cluster.wait_for_nodes(3)
    model = [node["id"] for node in nodes if MODEL_NODE in node["resources"]]
    decoder = [
        node["id"] for node in nodes if node["resources"].get("CPU") and MODEL_NODE not in node["resources"]
    ]
    return {"model": model[0], "decoder": decoder[0]}


def test_a_submitted_job_spreads_decoding_keeps_models_on_their_node_and_selects_as_one_node(
    cluster: LocalCluster, input_folder: Path, single_node: lightly_ray.RunResult, tmp_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    lightly = _lightly(tmp_path / "lightly")
    result = _result(_submit(cluster, config, input_folder, lightly, "multinode-1"), cluster)

    nodes = _node_ids(cluster)
    placement = _placement(cluster, "multinode-1")
    assert placement["decode"] == {nodes["decoder"], nodes["model"]}, placement
    assert placement["pretag"] == {nodes["model"]} == placement["embed"], placement
    assert result["selected"] == single_node.selected
    assert result["counts"]["nSelected"] == len(single_node.selected) > 0


def test_a_run_that_loses_a_worker_node_during_embedding_selects_the_same(
    cluster: LocalCluster, input_folder: Path, single_node: lightly_ray.RunResult, tmp_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    lightly = _lightly(tmp_path / "lightly")
    process = _submit(cluster, config, input_folder, lightly, "multinode-kill")
    # Kill the decode-only node once the model actors have started work on the cluster: the
    # decoded blocks in its object store and its running decode tasks are lost.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if _placement(cluster, "multinode-kill")["pretag"]:
            break
        time.sleep(1)
    assert process.poll() is None, "the job ended before a node could be killed"
    cluster.kill_raylet("decoder")
    result = _result(process, cluster)
    assert len(cluster.wait_for_nodes(2, exactly=True)) == 2, "the decoder node is gone"
    assert result["selected"] == single_node.selected
    assert result["counts"] == single_node.counts
