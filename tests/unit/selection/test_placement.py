"""Where a run's DIVERSITY picks are computed (resources.selection)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lightly_ray.config.resources import SelectionResources
from lightly_ray.errors import LightlyRayError
from lightly_ray.selection import placement
from lightly_ray.selection.kernels import farthest_first
from lightly_ray.selection.placement import selection_place


def test_embeddings_over_the_budget_go_to_shards_sized_by_it() -> None:
    place = selection_place(SelectionResources(driver_memory_gb=1.0), rows=10_000_000, dim=128)
    assert (place.where, place.shards) == ("sharded", 6)  # 5.12 GB in shards of at most 1 GB
    assert "5.12 GB" in place.reason and "resources.selection.driver_memory_gb" in place.reason
    assert place.kernel is not None
    few = selection_place(SelectionResources(driver_memory_gb=10.0, shards=4), rows=30_000_000, dim=128)
    assert (few.where, few.shards) == ("sharded", 4)
    assert selection_place(SelectionResources(driver_memory_gb=1.0), rows=1000, dim=128).where == "driver-cpu"


def test_the_default_budget_is_half_the_available_memory_with_other_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(placement, "available_memory_bytes", lambda: 8_000_000)
    place = selection_place(SelectionResources(), rows=10_000, dim=128, nodes=3)  # 5.1 MB > 4 MB
    assert place.where == "sharded" and place.shards == 3  # at least one shard per node
    assert "half the driver's available memory" in place.reason
    # On one node, shards would add memory beside the driver's instead of moving it.
    assert selection_place(SelectionResources(), rows=10_000, dim=128, nodes=1).where == "driver-cpu"
    monkeypatch.setattr(placement, "available_memory_bytes", lambda: None)  # unknown: no limit
    assert selection_place(SelectionResources(), rows=10_000, dim=128, nodes=3).where == "driver-cpu"


def test_available_memory_is_bounded_by_the_cgroup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("4000000000\n")
    (tmp_path / "memory.current").write_text("1000000000\n")
    files = ((str(tmp_path / "memory.max"), str(tmp_path / "memory.current")),)
    monkeypatch.setattr(placement, "CGROUP_MEMORY_FILES", files)
    monkeypatch.setattr(placement, "_meminfo_available", lambda: 64_000_000_000)  # the node's
    assert placement.available_memory_bytes() == 3_000_000_000
    (tmp_path / "memory.max").write_text("max\n")  # no limit: the machine's
    assert placement.available_memory_bytes() == 64_000_000_000


def test_device_choices_on_a_driver_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement, "_has_cuda", lambda: False)
    for device in ("auto", "cpu"):
        place = selection_place(SelectionResources(device=device), rows=100_000, dim=64)
        assert place.where == "driver-cpu" and place.kernel is None
    with pytest.raises(LightlyRayError, match="no CUDA GPU"):
        selection_place(SelectionResources(device="cuda"), rows=100, dim=64)


@pytest.mark.gpu  # tests/conftest.py skips it on a machine without CUDA
def test_the_gpu_picks_what_the_cpu_kernel_picks() -> None:
    rng = np.random.default_rng(5)
    points = rng.standard_normal((30_000, 64)).astype(np.float32)
    place = selection_place(SelectionResources(device="auto"), rows=len(points), dim=64)
    assert place.where == "driver-cuda" and place.kernel is not None
    on_gpu = place.kernel(points, 200, preselected=np.array([7]))
    on_cpu = farthest_first(points, 200, preselected=np.array([7]))
    assert on_gpu.indices.tolist() == on_cpu.indices.tolist()
    np.testing.assert_array_equal(on_gpu.min_distances_at_pick, on_cpu.min_distances_at_pick)
