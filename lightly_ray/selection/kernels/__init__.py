"""Fast, exact selection kernels: farthest-first (k-center greedy) and diversity x weights.

`farthest_first` / `farthest_first_weighted` run on CPU with numba; `farthest_first_torch` runs
on any torch device (CUDA when available). All of them return the same picks as the float64
numpy reference in `kernels.reference`. `MinDistanceState` is the building block for other
objectives: exact running minimum distances with `add(index)` and `best()`.

`farthest_first_torch` is imported when first asked for: the CPU kernels need no torch, and
importing it costs a process about half a gigabyte of memory.
"""

from typing import Any

from lightly_ray.selection.kernels.farthest_first import (
    FarthestFirstResult,
    best_combined,
    farthest_first,
    farthest_first_weighted,
)
from lightly_ray.selection.kernels.reference import combined_scores, reference_farthest_first
from lightly_ray.selection.kernels.state import MinDistanceState


def __getattr__(name: str) -> Any:
    if name == "farthest_first_torch":
        from lightly_ray.selection.kernels.torch_path import farthest_first_torch

        return farthest_first_torch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FarthestFirstResult",
    "MinDistanceState",
    "best_combined",
    "combined_scores",
    "farthest_first",
    "farthest_first_torch",
    "farthest_first_weighted",
    "reference_farthest_first",
]
