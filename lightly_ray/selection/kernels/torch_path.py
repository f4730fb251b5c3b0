"""Exact farthest-first on a torch device (CUDA when available): a float32 pass per pick.

Per pick, one float32 matrix-vector product gives every row's squared distance to the new
center up to a rigorous error bound; only rows whose bound does not rule out a smaller
distance are recomputed in float64 with numpy's summation order, so the running minimum
distances (and hence the picks) are bit-identical to the float64 numpy reference.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lightly_ray.selection.kernels.farthest_first import FarthestFirstResult
from lightly_ray.selection.kernels.reference import STOP_BUDGET, STOP_MINIMUM_DISTANCE

_SLACK = 1e-9


def pairwise_row_sums(values: torch.Tensor) -> torch.Tensor:
    """Row sums of a float64 (m, n) tensor in numpy's pairwise order (bit-identical to numpy).

    Only elementwise additions are used, each one an exactly rounded IEEE operation on every
    device, in the same order as numpy's `pairwise_sum` for a contiguous row.
    """
    count = values.shape[1]
    if count < 8:
        res = torch.zeros(values.shape[0], dtype=values.dtype, device=values.device)
        for j in range(count):
            res = res + values[:, j]
        return res
    if count <= 128:
        acc = values[:, 0:8].clone()
        end = count - count % 8
        for j in range(8, end, 8):
            acc = acc + values[:, j : j + 8]
        res = ((acc[:, 0] + acc[:, 1]) + (acc[:, 2] + acc[:, 3])) + (
            (acc[:, 4] + acc[:, 5]) + (acc[:, 6] + acc[:, 7])
        )
        for j in range(end, count):
            res = res + values[:, j]
        return res
    half = count // 2
    half -= half % 8
    return pairwise_row_sums(values[:, :half]) + pairwise_row_sums(values[:, half:])


def _unit_roundoff() -> float:
    # float32 products/sums; TF32 or lower precision matmuls round far more coarsely.
    if torch.get_float32_matmul_precision() != "highest":
        return 2.0**-8
    return 2.0**-24


def farthest_first_torch(
    embeddings: np.ndarray | torch.Tensor,
    budget: int,
    *,
    preselected: np.ndarray | None = None,
    minimum_distance: float | None = None,
    device: str | torch.device | None = None,
) -> FarthestFirstResult:
    """Greedy farthest-first traversal on a torch device; same picks as `farthest_first`.

    Args:
        embeddings: Array or tensor of shape (n, d), float32 (converted if not).
        budget: Size of the selection, preselected rows included (capped at n).
        preselected: Rows already selected.
        minimum_distance: Stop when the best candidate's Euclidean distance is below this.
        device: Torch device; default "cuda" when available, else "cpu".

    Returns:
        The picks, their distances at pick time and the stop reason.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.as_tensor(embeddings).to(device=device, dtype=torch.float32).contiguous()
    n, dim = x.shape
    norm_sq = torch.empty(n, dtype=torch.float64, device=x.device)
    for start in range(0, n, 65536):
        rows = x[start : start + 65536].double()
        norm_sq[start : start + 65536] = (rows * rows).sum(dim=1)
    norm = norm_sq.sqrt()
    u = _unit_roundoff()
    gamma = dim * u / (1.0 - dim * u)
    min_sq = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
    selected = torch.zeros(n, dtype=torch.bool, device=x.device)

    def add(index: int) -> None:
        c = x[index]
        dots = (x @ c).double()
        # |fl(x.c) - x.c| <= gamma_d * |x| |c| for any summation order (Cauchy-Schwarz).
        estimate = norm_sq + norm_sq[index] - 2.0 * dots
        error = 2.0 * gamma * norm * norm[index] + 1e-12 * (norm_sq + norm_sq[index])
        lower = (estimate - error) * (1.0 - _SLACK)
        rows = torch.nonzero((lower <= min_sq) & ~selected).flatten()
        if len(rows):
            diff = x[rows].double() - c.double()
            exact = pairwise_row_sums(diff * diff)
            min_sq[rows] = torch.minimum(min_sq[rows], exact)
        selected[index] = True

    chosen = np.unique(np.asarray(preselected if preselected is not None else [], dtype=np.int64))
    for index in chosen:
        add(int(index))
    target = min(int(budget), n)
    picks: list[int] = []
    distances: list[float] = []
    stop = STOP_BUDGET
    while len(chosen) + len(picks) < target:
        if len(chosen) + len(picks) == 0:
            index, sq = 0, math.inf
        else:
            masked = torch.where(selected, -1.0, min_sq)
            best = masked.max()
            index = int(torch.nonzero(masked == best)[0, 0])  # lowest index among ties
            sq = float(best)
        distance = math.sqrt(sq)
        if minimum_distance is not None and distance < minimum_distance:
            stop = STOP_MINIMUM_DISTANCE
            break
        picks.append(index)
        distances.append(distance)
        add(index)
    return FarthestFirstResult(np.asarray(picks, dtype=np.int64), np.asarray(distances), stop)
