"""Fast, exact selection kernels: farthest-first (k-center greedy) and diversity x weights.

`farthest_first` / `farthest_first_weighted` run on CPU with numba; `farthest_first_torch` runs
on any torch device (CUDA when available). All of them return the same picks as the float64
numpy reference in `kernels.reference`. `MinDistanceState` is the building block for other
objectives: exact running minimum distances with `add(index)` and `best()`.
"""

from lightly_ray.selection.kernels.farthest_first import (
    FarthestFirstResult,
    best_combined,
    farthest_first,
    farthest_first_weighted,
)
from lightly_ray.selection.kernels.reference import combined_scores, reference_farthest_first
from lightly_ray.selection.kernels.state import MinDistanceState
from lightly_ray.selection.kernels.torch_path import farthest_first_torch

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
