"""Where a run's DIVERSITY picks are computed: the driver's CPUs, its GPU, or sharded actors.

Every place computes the same picks (each is exact against the float64 reference); they differ
in memory and speed. `resources.selection` chooses:

- `driver_memory_gb`: when the candidates' float32 embeddings exceed it, Ray actors each hold
  a shard of them (`selection.sharded`) and the driver only merges their answers, so the
  selection's working set (the kernel's int8 copy and per-row distances, a third of the matrix
  and more) is spread over the cluster's nodes. Default: half the memory the driver's machine
  has available when selection starts.
- `device`: on `auto` a driver with a CUDA GPU picks there (`kernels.torch_path`) from
  `fast_diversity.FAST_PATH_MIN_ROWS` candidates on; `cuda` asks for it; `cpu` keeps the
  compiled CPU kernel.
"""

from __future__ import annotations

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


def available_memory_bytes() -> int | None:
    """Memory the machine can still give a process (MemAvailable of /proc/meminfo), or None."""
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


def selection_place(settings: SelectionResources, rows: int, dim: int) -> SelectionPlace:
    """Choose where the DIVERSITY picks of `rows` candidates of width `dim` are computed.

    Raises:
        LightlyRayError: `device: cuda` on a driver without a CUDA GPU.
    """
    matrix_bytes = rows * dim * 4
    budget = settings.driver_memory_gb * GB if settings.driver_memory_gb is not None else None
    if budget is None:
        available = available_memory_bytes()
        budget = available / 2 if available is not None else None
    if budget is not None and matrix_bytes > budget:
        shards = settings.shards or max(2, math.ceil(matrix_bytes / budget))
        limit = (
            f"{settings.driver_memory_gb:g} GB (resources.selection.driver_memory_gb)"
            if (settings.driver_memory_gb is not None)
            else f"{budget / GB:.1f} GB, half the driver's available memory"
        )
        reason = f"the candidates' embeddings ({matrix_bytes / GB:.2f} GB) exceed {limit}"
        return SelectionPlace(partial(_sharded, shards=shards), "sharded", shards, reason)
    if settings.device == "cpu" or (settings.device == "auto" and rows < FAST_PATH_MIN_ROWS):
        return SelectionPlace(None, "driver-cpu", 0, f"resources.selection.device is {settings.device}")
    if _has_cuda():
        from lightly_ray.selection.kernels.torch_path import farthest_first_torch

        return SelectionPlace(
            partial(farthest_first_torch, device="cuda"), "driver-cuda", 0, "the driver has a CUDA GPU"
        )
    if settings.device == "cuda":
        raise LightlyRayError(
            "resources.selection.device is cuda, but the driver has no CUDA GPU: run the driver on a "
            "GPU node or set device to auto"
        )
    return SelectionPlace(None, "driver-cpu", 0, "the driver has no CUDA GPU")


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


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


__all__ = ["SelectionPlace", "available_memory_bytes", "selection_place"]
