"""Numba kernels for exact farthest-first selection.

Every squared distance that reaches the running minimum is computed in float64 with the same
operations, in the same order, as numpy's `((x - c) ** 2).sum()` on float64 rows (numpy's
pairwise summation), so the stored minimum distances are bit-identical to a float64 numpy
reference. Rows are only skipped when a rigorous lower bound proves the new distance cannot be
smaller than the stored one (see `docs/selection_performance.md`).

Kernels are compiled on first use and cached on disk (`cache=True`). `fastmath` stays off in
every kernel that touches floating point so that LLVM neither reorders sums nor contracts
multiply-adds.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# Relative slack on every lower bound (covers float64 rounding in the bound itself and in the
# reference computation of a squared distance, for any dim up to millions).
BOUND_SLACK = 1e-9


@numba.njit(cache=True, fastmath=False)
def _leaf_sq(x: np.ndarray, c: np.ndarray, lo: int, count: int) -> float:  # pragma: no cover
    """Numpy's pairwise_sum for count <= 128 (eight accumulators), on `(x[j] - c[j]) ** 2`."""
    if count < 8:
        res = 0.0
        for j in range(lo, lo + count):
            diff = np.float64(x[j]) - c[j]
            res += diff * diff
        return res
    if count <= 128:
        r0 = (np.float64(x[lo]) - c[lo]) ** 2
        r1 = (np.float64(x[lo + 1]) - c[lo + 1]) ** 2
        r2 = (np.float64(x[lo + 2]) - c[lo + 2]) ** 2
        r3 = (np.float64(x[lo + 3]) - c[lo + 3]) ** 2
        r4 = (np.float64(x[lo + 4]) - c[lo + 4]) ** 2
        r5 = (np.float64(x[lo + 5]) - c[lo + 5]) ** 2
        r6 = (np.float64(x[lo + 6]) - c[lo + 6]) ** 2
        r7 = (np.float64(x[lo + 7]) - c[lo + 7]) ** 2
        end = lo + count - (count % 8)
        j = lo + 8
        while j < end:
            r0 += (np.float64(x[j]) - c[j]) ** 2
            r1 += (np.float64(x[j + 1]) - c[j + 1]) ** 2
            r2 += (np.float64(x[j + 2]) - c[j + 2]) ** 2
            r3 += (np.float64(x[j + 3]) - c[j + 3]) ** 2
            r4 += (np.float64(x[j + 4]) - c[j + 4]) ** 2
            r5 += (np.float64(x[j + 5]) - c[j + 5]) ** 2
            r6 += (np.float64(x[j + 6]) - c[j + 6]) ** 2
            r7 += (np.float64(x[j + 7]) - c[j + 7]) ** 2
            j += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while j < lo + count:
            res += (np.float64(x[j]) - c[j]) ** 2
            j += 1
        return float(res)
    return 0.0  # unreachable: count <= 128 here


@numba.njit(cache=True, fastmath=False)
def _pairwise_sq(x: np.ndarray, c: np.ndarray, lo: int, count: int) -> float:  # pragma: no cover
    """The numpy pairwise sum of `(float64(x[j]) - c[j]) ** 2` over j in [lo, lo + count).

    numpy splits blocks longer than 128 in two (the first half a multiple of 8) and adds the
    halves; this walks the same tree with an explicit stack (numba's on-disk cache mishandles
    recursive functions).
    """
    if count <= 128:
        return _leaf_sq(x, c, lo, count)
    task_lo = np.empty(128, dtype=np.int64)
    task_count = np.empty(128, dtype=np.int64)
    values = np.empty(128, dtype=np.float64)
    n_tasks = 1
    n_values = 0
    task_lo[0] = lo
    task_count[0] = count
    while n_tasks:
        n_tasks -= 1
        t_lo = task_lo[n_tasks]
        t_count = task_count[n_tasks]
        if t_count < 0:  # combine the two values on top: left + right
            n_values -= 1
            values[n_values - 1] = values[n_values - 1] + values[n_values]
        elif t_count <= 128:
            values[n_values] = _leaf_sq(x, c, t_lo, t_count)
            n_values += 1
        else:
            half = t_count // 2
            half -= half % 8
            task_lo[n_tasks] = 0
            task_count[n_tasks] = -1
            task_lo[n_tasks + 1] = t_lo + half
            task_count[n_tasks + 1] = t_count - half
            task_lo[n_tasks + 2] = t_lo
            task_count[n_tasks + 2] = half
            n_tasks += 3
    return float(values[0])


@numba.njit(cache=True, fastmath=False)
def sq_distance(x: np.ndarray, c: np.ndarray) -> float:  # pragma: no cover
    """Squared distance of a float32 row to a float64 point, exactly as numpy's float64 reference."""
    return _pairwise_sq(x, c, 0, x.shape[0])


ROW_OFFSET = 128
"""Rows are stored as `level + ROW_OFFSET` (uint8, levels in [-127, 127]) for `_simd.dot_u8s8`."""
CENTER_LEVELS = 63
"""Centers are quantised to levels in [-63, 63] so that `dot_u8s8` pair sums fit in 16 bits."""


@numba.njit(cache=True, fastmath=False)
def quantize_row(
    x: np.ndarray, out: np.ndarray, max_level: int, offset: int
) -> tuple[float, int, float, int]:  # pragma: no cover
    """Quantise one row: x = scale * level + r with |r| <= residual (rounded up).

    Writes `level + offset` into `out`. Any level is valid (the residual is measured, not
    assumed), so the rounding multiplies by the reciprocal of the scale instead of dividing.
    s * level is exact in float64 (24 + 7 bits) and so is x - s * level; only the sum of
    squares rounds, hence the 1e-6 margin.

    Returns:
        (scale, sum of level**2, residual, sum of levels); scale and residual are float32 values
        held in float64.
    """
    d = x.shape[0]
    top = np.float32(0.0)
    for j in range(d):
        v = abs(x[j])
        if v > top:
            top = v
    s = np.float32(top / np.float32(max_level)) if top > 0.0 else np.float32(1.0)
    s64 = np.float64(s)
    inverse = 1.0 / s64
    bound = np.float64(max_level)
    squares = 0
    total = 0
    res2 = 0.0
    for j in range(d):
        v = np.float64(x[j])
        level = min(max(np.rint(v * inverse), -bound), bound)
        qi = int(level)
        out[j] = qi + offset
        squares += qi * qi
        total += qi
        r = v - s64 * level
        res2 += r * r
    residual = np.float64(np.float32(math.sqrt(res2) * (1.0 + 1e-6) + 1e-30))
    return s64, squares, residual, total  # float64 values (a float32 would round s * s)


@numba.njit(parallel=True, cache=True, fastmath=False)
def quantize(
    x: np.ndarray, q: np.ndarray, scale: np.ndarray, qnorm2: np.ndarray, residual: np.ndarray
) -> None:  # pragma: no cover
    """Fill the uint8 copy (`level + ROW_OFFSET`, levels in [-127, 127]) row by row."""
    for i in numba.prange(x.shape[0]):
        s, squares, r, _ = quantize_row(x[i], q[i], 127, ROW_OFFSET)
        scale[i] = s
        qnorm2[i] = squares
        residual[i] = r


@numba.njit(cache=True, fastmath=False)
def _log(value: float) -> float:  # pragma: no cover
    """Natural log, -inf for values <= 0 (as the engine's safe_log)."""
    return math.log(value) if value > 0.0 else -np.inf


@numba.njit(parallel=True, cache=True, fastmath=False)
def combined_scores_blocked(
    min_sq: np.ndarray,
    weights: np.ndarray,
    diversity_offset: float,
    weight_offset: float,
    diversity_strength: float,
    weight_strength: float,
    block_rows: int,
    out: np.ndarray,
    block_magnitude: np.ndarray,
) -> None:  # pragma: no cover
    """out[i] = s_d * log(A + min_sq[i]) + s_w * log(W + w[i]) (NaN for selected rows).

    A zero strength drops its term. Per block, `block_magnitude` gets the largest finite
    |s_d * log(..)| + |s_w * log(..)|: each score is within a few ulps of that of numpy's value,
    which is all `near_best` needs before numpy re-scores the near-ties.
    """
    n = min_sq.shape[0]
    n_blocks = (n + block_rows - 1) // block_rows
    for b in numba.prange(n_blocks):
        magnitude = 0.0
        for i in range(b * block_rows, min(n, (b + 1) * block_rows)):
            m = min_sq[i]
            if m < 0.0:
                out[i] = np.nan  # selected: never a candidate
                continue
            t1 = 0.0
            if diversity_strength != 0.0:
                t1 = diversity_strength * _log(diversity_offset + m)
            t2 = 0.0
            if weight_strength != 0.0:
                t2 = weight_strength * _log(weight_offset + weights[i])
            score = t1 + t2
            out[i] = score if score == score else -np.inf  # inf - inf counts as -inf
            size = abs(t1) + abs(t2)
            if size < np.inf and size > magnitude:
                magnitude = size
        block_magnitude[b] = magnitude


@numba.njit(cache=True, fastmath=False)
def near_best(scores: np.ndarray, tolerance: float) -> np.ndarray:  # pragma: no cover
    """Indices (ascending) within `tolerance` of the largest score (NaN never; exact when infinite)."""
    n = scores.shape[0]
    best = -np.inf
    found = False
    for i in range(n):
        if scores[i] > best or (not found and scores[i] == best):
            best = scores[i]
            found = True
    threshold = best - tolerance if abs(best) < np.inf else best
    count = 0
    for i in range(n):
        if scores[i] >= threshold:
            count += 1
    out = np.empty(count, dtype=np.int64)
    k = 0
    for i in range(n):
        if scores[i] >= threshold:
            out[k] = i
            k += 1
    return out


@numba.njit(parallel=True, cache=True, fastmath=False)
def scan_by_weight(
    min_sq: np.ndarray,
    sorted_weights: np.ndarray,
    order: np.ndarray,
    diversity_offset: float,
    weight_offset: float,
    diversity_strength: float,
    weight_strength: float,
    diversity_bound: float,
    tolerance: float,
    out_rows: np.ndarray,
    out_scores: np.ndarray,
    parts: int,
) -> np.ndarray:  # pragma: no cover
    """Score rows in decreasing weight order until no later row can reach the best score.

    Needs weight_strength > 0 and diversity_strength >= 0, `order` sorting the weights in
    decreasing order (`sorted_weights` = weights[order]), and `diversity_bound` >=
    s_d * log(A + m) for every unselected row (the term at the largest minimum distance). A
    later row scores at most `diversity_bound + s_w * log(W + w)` with the current row's w, so
    a scan stops once that is below its best score by more than `2 * tolerance` (each computed
    score is within `tolerance` of numpy's).

    The order is split into `parts` interleaved scans (position p goes to part p % parts) that
    run in parallel; each stops on its own best, which is at most the overall best, so no row
    that can reach the overall best is missed. Part t writes its rows and scores from
    t * ceil(n / parts) on.

    Returns:
        (parts,) int64: how many rows each part wrote.
    """
    n = order.shape[0]
    stride = (n + parts - 1) // parts
    counts = np.zeros(parts, dtype=np.int64)
    for t in numba.prange(parts):
        best = -np.inf
        count = 0
        base = t * stride
        for p in range(t, n, parts):
            i = order[p]
            m = min_sq[i]
            if m < 0.0:
                continue
            weight_term = weight_strength * _log(weight_offset + sorted_weights[p])
            if diversity_bound + weight_term < best - 2.0 * tolerance:
                break
            score = weight_term
            if diversity_strength != 0.0:
                score += diversity_strength * _log(diversity_offset + m)
            out_rows[base + count] = i
            out_scores[base + count] = score
            count += 1
            if score > best:
                best = score
        counts[t] = count
    return counts


@numba.njit(cache=True, fastmath=False)
def center_distances(rows: np.ndarray, center: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out[p] = the reference's squared distance of float32 row rows[p] to float32 `center`."""
    d = rows.shape[1]
    c64 = np.empty(d, dtype=np.float64)
    for j in range(d):
        c64[j] = np.float64(center[j])
    for p in range(out.shape[0]):
        out[p] = _pairwise_sq(rows[p], c64, 0, d)


@numba.njit(parallel=True, cache=True, fastmath=True)
def stream_sum(a: np.ndarray, block: int) -> float:  # pragma: no cover
    """Sum of a large float32 array read by all threads (a memory-bandwidth probe for benchmarks)."""
    n = a.shape[0]
    n_blocks = (n + block - 1) // block
    partial = np.zeros(n_blocks, dtype=np.float64)
    for b in numba.prange(n_blocks):
        acc = np.float32(0.0)
        for i in range(b * block, min(n, (b + 1) * block)):
            acc += a[i]
        partial[b] = acc
    return float(partial.sum())
