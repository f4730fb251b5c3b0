"""The models' weights are built in a task on the driver's node, and the driver imports no torch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import ray

from lightly_ray.config.lightly import ModelConfig
from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.models import weights
from lightly_ray.models.backbones import build_state

RANDOM = ModelConfig(name="resnet-18", weights="random", out_dim=16)


def test_a_run_s_driver_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "import lightly_ray.cli, lightly_ray.run, lightly_ray.embedding_sources, lightly_ray.pipeline.build\n"
        "import lightly_ray.pipeline.in_driver, lightly_ray.training.in_run, lightly_ray.report.document\n"
        "from lightly_ray.report.document import software_versions\n"
        "from lightly_ray.selection.placement import _has_cuda\n"
        "software_versions(), _has_cuda()\n"
        "print(sorted(name for name in ('torch', 'torchvision', 'lightly') if name in sys.modules))\n"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_weights_built_in_a_task_are_those_built_here(ray_instance: None) -> None:
    reference = weights.embedding_weights(RANDOM, 7, None, "", here=False)
    assert isinstance(reference, ray.ObjectRef)  # the driver holds the reference, the store the arrays
    remote = ray.get(reference)
    local = build_state(RANDOM, 7, None)
    assert remote.keys() == local.keys()
    for key, value in local.items():
        np.testing.assert_array_equal(remote[key], value)


def test_the_task_runs_in_another_process_on_this_node(ray_instance: None) -> None:
    def where() -> dict[str, np.ndarray]:
        return {"pid": np.array(os.getpid()), "node": np.array(ray.get_runtime_context().get_node_id())}

    built = ray.get(weights._on_this_node(where))
    pid, node = int(built["pid"]), str(built["node"])
    assert pid != os.getpid()
    assert node == ray.get_runtime_context().get_node_id()


def test_a_bad_checkpoint_is_the_same_error_as_when_built_here(ray_instance: None) -> None:
    with pytest.raises(WeightsNotAvailableError) as remote:
        weights.embedding_weights(RANDOM, 7, b"not a checkpoint", "'model.ckpt' in 'lightly/'", here=False)
    assert "'model.ckpt' in 'lightly/'" in str(remote.value)
    assert type(remote.value) is WeightsNotAvailableError  # not Ray's wrapper of it


def test_a_process_with_torch_loaded_builds_them_itself(
    ray_instance: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch  # the tests' own imports have loaded it too

    def no_task(*args: object) -> None:
        raise AssertionError("a process with torch loaded started a task for the weights")

    assert "torch" in sys.modules and torch.__version__
    monkeypatch.setattr(weights, "_on_this_node", no_task)
    built = ray.get(weights.embedding_weights(RANDOM, 7, None, ""))  # put into the store from here
    expected = build_state(RANDOM, 7, None)["projection.weight"]
    np.testing.assert_array_equal(built["projection.weight"], expected)
    with pytest.raises(AssertionError, match="started a task"):
        weights.embedding_weights(RANDOM, 7, None, "", here=False)
