"""Exact farthest-first on a torch device (CUDA when available).

With `backend="triton"` on CUDA, `farthest_first_torch` runs one fused kernel per pick that
reads an int8 copy of the matrix (`kernels.triton_filter`, with `kernels.int8_bound`). The
eager path (any device, the default) does, per pick, one float32 matrix-vector product, which
gives every row's squared distance to the new center up to a rigorous error bound. Either way only rows whose
bound does not rule out a smaller distance are recomputed in float64 with numpy's summation
order, so the running minimum distances (and hence the picks) are bit-identical to the float64
numpy reference.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lightly_ray.selection.kernels.farthest_first import FarthestFirstResult
from lightly_ray.selection.kernels.int8_bound import MAX_DIM, SLACK
from lightly_ray.selection.kernels.reference import STOP_BUDGET, STOP_MINIMUM_DISTANCE

BACKENDS = ("auto", "triton", "eager")


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


def _chunks(n: int, rows: int) -> range:
    return range(0, n, rows)


def farthest_first_torch(
    embeddings: np.ndarray | torch.Tensor,
    budget: int,
    *,
    preselected: np.ndarray | None = None,
    minimum_distance: float | None = None,
    device: str | torch.device | None = None,
    backend: str = "auto",
) -> FarthestFirstResult:
    """Greedy farthest-first traversal on a torch device; same picks as `farthest_first`.

    Backend "triton" (opt-in; checked for exactness under Triton's interpreter, not yet timed
    on a GPU): one fused kernel per pick on an int8 copy, no host synchronisation per pick
    (`kernels.triton_filter`). Backend "eager" (what "auto" runs, measured on an H100):
    per pick one float32 matrix-vector product, a handful of elementwise float64 passes over
    n values, one `nonzero` for the rows to recompute and one `argmax` (first index among
    equal maxima). Selected rows hold -1 in the minimum-distance array, so neither step needs
    a mask.

    Args:
        embeddings: Array or tensor of shape (n, d), float32 (converted if not). A tensor
            already on `device` is used in place.
        budget: Size of the selection, preselected rows included (capped at n).
        preselected: Rows already selected.
        minimum_distance: Stop when the best candidate's Euclidean distance is below this.
        device: Torch device; default "cuda" when available, else "cpu".
        backend: "auto" (currently the eager path), "triton" (CUDA, or CPU under
            `TRITON_INTERPRET=1` for tests) or "eager".

    Returns:
        The picks, their distances at pick time and the stop reason.

    Raises:
        ValueError: Unknown backend, or "triton" for a shape it does not support.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    x = torch.as_tensor(embeddings).to(device=device, dtype=torch.float32).contiguous()
    n, dim = x.shape
    supported = 0 < dim <= MAX_DIM and n < 2**31
    if backend == "triton" and not supported:
        raise ValueError(f"the Triton backend needs 0 < d <= {MAX_DIM} and n < 2^31")
    # "auto" stays on the eager path until the fused kernel has been timed on a GPU (it has
    # only run under Triton's interpreter so far); "triton" opts in.
    if backend == "triton":
        from lightly_ray.selection.kernels.triton_filter import farthest_first_triton

        return farthest_first_triton(x, budget, preselected=preselected, minimum_distance=minimum_distance)
    norm_sq = torch.empty(n, dtype=torch.float64, device=x.device)
    for start in _chunks(n, 1 << 20):
        rows = x[start : start + (1 << 20)].double()
        norm_sq[start : start + (1 << 20)] = (rows * rows).sum(dim=1)
    norm = norm_sq.sqrt()
    u = _unit_roundoff()
    gamma = dim * u / (1.0 - dim * u)
    min_sq = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
    recompute_rows = max(1, (1 << 27) // max(dim, 1))  # float64 scratch of at most 1 GiB

    def add(index: int) -> None:
        c = x[index]
        dots = (x @ c).double()
        # |fl(x.c) - x.c| <= gamma_d * |x| |c| for any summation order (Cauchy-Schwarz), so
        # `lower` is below the exact squared distance; rows where it exceeds the stored
        # minimum keep it (selected rows hold -1 and are never recomputed).
        lower = (norm_sq + norm_sq[index]).mul_(1.0 - 1e-12)
        lower.sub_(dots, alpha=2.0).sub_(norm, alpha=2.0 * gamma * float(norm[index]))
        lower.mul_(1.0 - SLACK)
        rows = torch.nonzero(lower <= min_sq).flatten()
        c64 = c.double()
        for start in _chunks(len(rows), recompute_rows):
            part = rows[start : start + recompute_rows]
            diff = x[part].double() - c64
            exact = pairwise_row_sums(diff * diff)
            min_sq[part] = torch.minimum(min_sq[part], exact)
        min_sq[index] = -1.0

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
            best = torch.argmax(min_sq)  # the first index among equal maxima
            index = int(best)
            sq = float(min_sq[index])
        distance = math.sqrt(sq)
        if minimum_distance is not None and distance < minimum_distance:
            stop = STOP_MINIMUM_DISTANCE
            break
        picks.append(index)
        distances.append(distance)
        add(index)
    return FarthestFirstResult(np.asarray(picks, dtype=np.int64), np.asarray(distances), stop)


def reference_farthest_first_torch(
    embeddings: torch.Tensor, budget: int, *, chunk_rows: int = 1 << 20
) -> np.ndarray:
    """The float64 reference on a torch device: every distance recomputed at every pick.

    Bit-identical to `kernels.reference_farthest_first` (numpy's pairwise order, exactly
    rounded elementwise operations), but fast enough on a GPU to check millions of rows.

    Args:
        embeddings: Float32 tensor (n, d) on any device.
        budget: Number of picks (capped at n); the first pick is row 0.
        chunk_rows: Rows per float64 chunk (scratch of chunk_rows * d * 8 bytes, twice).

    Returns:
        The picks, int64.
    """
    x = embeddings.to(dtype=torch.float32).contiguous()
    n = x.shape[0]
    min_sq = torch.full((n,), math.inf, dtype=torch.float64, device=x.device)
    picks = [0]
    for _ in range(min(int(budget), n) - 1):
        c64 = x[picks[-1]].double()
        for start in _chunks(n, chunk_rows):
            diff = x[start : start + chunk_rows].double() - c64
            torch.minimum(
                min_sq[start : start + chunk_rows],
                pairwise_row_sums(diff * diff),
                out=min_sq[start : start + chunk_rows],
            )
        min_sq[picks[-1]] = -1.0
        picks.append(int(torch.argmax(min_sq)))
    return np.asarray(picks, dtype=np.int64)
