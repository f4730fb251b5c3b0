"""Where a run's DIVERSITY picks are computed: the driver's CPUs, its GPU, or sharded actors.

Every place computes the same picks (each is exact against the float64 reference); they differ
in memory and speed. `resources.selection` chooses:

- `driver_memory_gb`: when the candidates' float32 embeddings exceed it, Ray actors each hold
  a shard of them (`selection.sharded`) and the driver only merges their answers, so the
  selection's working set (the kernel's int8 copy and per-row distances, a third of the matrix)
  is spread over the cluster's nodes. Default: half the memory the driver can still take when
  selection starts, on a cluster of several nodes (on one, shards would add memory).
- `device`: on `auto` a driver with a CUDA GPU picks there (`kernels.torch_path`) from
  `fast_diversity.FAST_PATH_MIN_ROWS` candidates on, when the matrix fits the GPU's free memory
  twice over; `cuda` asks for it; `cpu` keeps the compiled CPU kernel.
"""

from __future__ import annotations

import glob
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from lightly_ray.config.resources import SelectionResources
from lightly_ray.errors import LightlyRayError
from lightly_ray.selection.fast_diversity import FAST_PATH_MIN_ROWS

logger = logging.getLogger("lightly_ray")

GB = 1e9
NVIDIA_DEVICE_FILES = "/dev/nvidia[0-9]*"  # what the NVIDIA driver (and a container's device plugin) makes
DiversityKernel = Callable[..., object]


@dataclass(frozen=True)
class SelectionPlace:
    """Where DIVERSITY runs and why, for the log and the report.

    Attributes:
        kernel: The farthest-first function (the `kernels.farthest_first` contract), or None
            for the engine's own choice on the driver's CPUs.
        where: "driver-cpu", "driver-cuda" or "sharded".
        shards: Actors of a sharded selection (0 otherwise).
        reason: One sentence on why.
    """

    kernel: DiversityKernel | None
    where: str
    shards: int
    reason: str

    def report(self) -> dict[str, object]:
        """The `selection.placement` block of report.json."""
        return {"where": self.where, "shards": self.shards, "reason": self.reason}


# (limit, usage) of cgroup v2, then v1.
CGROUP_MEMORY_FILES = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def available_memory_bytes() -> int | None:
    """Memory this process can still take: the machine's MemAvailable, or less under a cgroup limit.

    In a container (a KubeRay pod) /proc/meminfo shows the node's memory, so the cgroup's limit
    minus its usage bounds it (cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes`).
    """
    available = _meminfo_available()
    for limit_file, usage_file in CGROUP_MEMORY_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:
            room = max(limit - usage, 0)
            available = room if available is None else min(available, room)
            break
    return available


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _read_int(path: str) -> int | None:
    """An integer file such as a cgroup limit; None when absent or "max" (no limit)."""
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def selection_place(settings: SelectionResources, rows: int, dim: int, nodes: int = 1) -> SelectionPlace:
    """Choose where the DIVERSITY picks of `rows` candidates of width `dim` are computed.

    Args:
        settings: `resources.selection`.
        rows: Candidates.
        dim: The embeddings' width.
        nodes: Nodes of the cluster: the default budget moves selection to shards only when
            there are other nodes to hold them (on one node they would add memory, not move it).

    Raises:
        LightlyRayError: `device: cuda` on a driver without a CUDA GPU.
    """
    matrix_bytes = rows * dim * 4
    if settings.driver_memory_gb is not None:
        budget: float | None = settings.driver_memory_gb * GB
        limit = f"{settings.driver_memory_gb:g} GB (resources.selection.driver_memory_gb)"
    else:
        available = available_memory_bytes() if nodes > 1 else None
        budget = available / 2 if available is not None else None
        limit = f"{(budget or 0) / GB:.1f} GB, half the driver's available memory"
    if budget is not None and matrix_bytes > budget:
        shards = settings.shards or max(2, nodes, math.ceil(matrix_bytes / budget))
        reason = f"the candidates' embeddings ({matrix_bytes / GB:.2f} GB) exceed {limit}"
        return SelectionPlace(partial(_sharded, shards=shards), "sharded", shards, reason)
    if settings.device == "cpu" or (settings.device == "auto" and rows < FAST_PATH_MIN_ROWS):
        return SelectionPlace(None, "driver-cpu", 0, f"resources.selection.device is {settings.device}")
    free = _cuda_free_bytes()
    if free is not None and (settings.device == "cuda" or matrix_bytes * GPU_ROOM <= free):
        from lightly_ray.selection.kernels.torch_path import farthest_first_torch

        return SelectionPlace(
            partial(farthest_first_torch, device="cuda"), "driver-cuda", 0, "the driver has a CUDA GPU"
        )
    if settings.device == "cuda":
        raise LightlyRayError(
            "resources.selection.device is cuda, but the driver has no CUDA GPU: run the driver on a "
            "GPU node or set device to auto"
        )
    if free is not None:
        reason = (
            f"the candidates' embeddings ({matrix_bytes / GB:.2f} GB) do not fit the GPU's {free / GB:.1f} GB"
        )
        return SelectionPlace(None, "driver-cpu", 0, reason)
    return SelectionPlace(None, "driver-cpu", 0, "the driver has no CUDA GPU")


# The torch path holds the float32 matrix and about as much again (its int8 copy, per-row arrays).
GPU_ROOM = 2.0


def _cuda_free_bytes() -> int | None:
    """Free memory of the driver's CUDA GPU, or None without one."""
    if not _has_cuda():
        return None
    import torch

    free, _ = torch.cuda.mem_get_info()
    return int(free)


def alive_nodes() -> int:
    """Nodes of the connected Ray cluster that are up."""
    import ray

    nodes: list[dict[str, object]] = ray.nodes()  # type: ignore[no-untyped-call]
    return len([node for node in nodes if node.get("Alive")])


def _has_cuda() -> bool:
    """Whether the driver has a CUDA GPU.

    torch is asked only on a machine with an NVIDIA device: importing it would add about 500 MB
    to the driver at selection, beside the embeddings (`models.weights`).
    """
    if not nvidia_device_visible():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def nvidia_device_visible() -> bool:
    """Whether this process may see an NVIDIA GPU: a device file, and CUDA_VISIBLE_DEVICES not empty.

    Checked before asking torch, so that a process without one never imports it for the question.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return bool(glob.glob(NVIDIA_DEVICE_FILES))


def _sharded(
    embeddings: np.ndarray,
    budget: int,
    *,
    preselected: np.ndarray | None = None,
    minimum_distance: float | None = None,
    shards: int,
) -> object:
    """`selection.sharded` with the `kernels.farthest_first` contract and result."""
    import ray

    from lightly_ray.selection.kernels.farthest_first import FarthestFirstResult
    from lightly_ray.selection.sharded import sharded_farthest_first

    cpus = float(ray.cluster_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
    result = sharded_farthest_first(
        embeddings,
        budget=budget,
        shards=shards,
        preselected=preselected,
        minimum_distance=minimum_distance,
        cpus_per_shard=min(1.0, cpus / shards),
    )
    first = (
        [math.inf] if len(result.indices) and not len(preselected if preselected is not None else []) else []
    )
    return FarthestFirstResult(
        indices=result.indices,
        min_distances_at_pick=np.asarray([*first, *result.distances], dtype=np.float64),
        stop_reason=result.stop_reason,
    )


__all__ = ["SelectionPlace", "alive_nodes", "available_memory_bytes", "selection_place"]
