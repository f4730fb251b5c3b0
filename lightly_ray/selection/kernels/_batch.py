"""Numba kernels for adding several centers in one pass, and for the exact farthest-first batch.

Greedy farthest-first is sequential: every pick depends on the minimum distances after the
previous one. But the next few picks are known in advance whenever they do not interact. Take
the candidates c_1, c_2, ... in decreasing order of their exact minimum distance D (ties to the
lowest index). c_1 is the next pick. After adding c_1, every distance can only drop, and c_2 is
still the best candidate exactly when its own distance did not drop, i.e. when
`sq(c_2, c_1) >= D(c_2)` computed as the reference computes it. By induction, the prefix
c_1..c_m in which each c_j keeps its distance against all earlier c_i is exactly the next m
picks. `batch_prefix` finds it; `add_centers` then updates every row against all m centers in
one pass over the int8 copy, so a pass that used to serve one pick serves m. On random
embeddings, top candidates are almost never within each other's distance, so batches are
full; on clustered data they are shorter, and m = 1 is the old one-center pass.

The per-row tests are the ones of `_numba.add_center` (see there and
docs/selection_performance.md): triangle inequality, int8 lower bound, exact float64 distance in
numpy's summation order otherwise. Each block keeps its `top` best rows (value descending, index
ascending) and rescans only when one of them was selected or its distance dropped.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from lightly_ray.selection.kernels._numba import (
    BOUND_SLACK,
    CENTER_LEVELS,
    ROW_OFFSET,
    _pairwise_sq,
    quantize_row,
)
from lightly_ray.selection.kernels._simd import dot4_u8s8, dot_u8s8

_CHOSEN = -1.0


@numba.njit(cache=True, fastmath=False)
def _insert_top(rows: np.ndarray, values: np.ndarray, row: int, value: float) -> None:  # pragma: no cover
    """Insert into a list sorted by value descending; callers visit rows in ascending order."""
    size = rows.shape[0]
    if value <= values[size - 1]:
        return
    p = size - 1
    while p > 0 and value > values[p - 1]:
        rows[p] = rows[p - 1]
        values[p] = values[p - 1]
        p -= 1
    rows[p] = row
    values[p] = value


@numba.njit(cache=True, fastmath=False, inline="always")
def _settle(
    x: np.ndarray,
    c64: np.ndarray,
    min_sq: np.ndarray,
    nearest: np.ndarray,
    top_rows: np.ndarray,
    b: int,
    i: int,
    t: int,
    first: int,
    dot: np.int32,
    sx: float,
    p1: float,
    reach: float,
    sc: np.ndarray,
    cterm: np.ndarray,
    rc: np.ndarray,
    shift: np.ndarray,
) -> int:  # pragma: no cover
    """Row i against new center t (selection position first + t), given their int8 dot product.

    Skips the pair when the int8 bound proves the minimum cannot drop; otherwise computes the
    float64 distance in numpy's order and lowers min_sq[i] (and nearest[i]) when it is smaller.

    Returns:
        0 when the bound skipped the pair, 1 when the distance was computed, 2 when it lowered
        the minimum of a row on block b's top list (`top_rows[b]`: the block must rescan).
    """
    high = 1.0 + BOUND_SLACK
    low = 1.0 - BOUND_SLACK
    p3 = 2.0 * sx * sc[t] * (np.float64(dot) - shift[t])
    a2 = (p1 + cterm[t] - p3) - 1e-12 * (p1 + cterm[t] + abs(p3))
    w = reach + rc[t]
    if a2 * (low * low * low) > w * w * high:
        return 0
    value = _pairwise_sq(x[i], c64[t], 0, x.shape[1])
    if value < min_sq[i]:
        min_sq[i] = value
        nearest[i] = first + t
        for p in range(top_rows.shape[1]):
            if top_rows[b, p] == i:
                return 2
    return 1


@numba.njit(parallel=True, cache=True, fastmath=False)
def add_centers(
    x: np.ndarray,
    q: np.ndarray,
    scale: np.ndarray,
    qnorm2: np.ndarray,
    residual: np.ndarray,
    min_sq: np.ndarray,
    nearest: np.ndarray,
    selected: np.ndarray,
    centers: np.ndarray,
    first: int,
    count: int,
    center_sq: np.ndarray,
    block_rows: int,
    top_rows: np.ndarray,
    top_values: np.ndarray,
    block_recomputed: np.ndarray,
    block_triangle: np.ndarray,
    use_triangle: bool,
    scratch: np.ndarray,
    block_first: int,
    block_stop: int,
    fill_triangle: bool,
) -> None:  # pragma: no cover
    """Add selected[first:first + count] to the selected set in a pass over blocks of rows.

    Blocks are processed in parallel. Without the triangle test, row by row: the int8 dot
    products with four centers per read of the row, then per center in selection order the
    int8 bound and, where it does not decide, the exact float64 distance in numpy's order. With
    it, center by center over the block (its rows stay in the core's cache): the triangle test,
    then the same per-pair steps.

    The int8 bound: with x = s_x q_x + r_x and c = s_c q_c + r_c (|r| <= rho),
    |x - c| >= |s_x q_x - s_c q_c| - rho_x - rho_c, where
    |s_x q_x - s_c q_c|^2 = s_x^2 |q_x|^2 + s_c^2 |q_c|^2 - 2 s_x s_c q_x.q_c is computed from
    integers. A row is skipped when that bound squared exceeds its current minimum. Compared
    without a square root per (row, center): per row and pass u = sqrt(current) + rho_x (both
    rounded up), per center `a2 > (u + rho_c)^2` with relative slack for every rounding.

    Args:
        x: (n, d) float32 matrix.
        q: (n, d) uint8 copy of x (`level + ROW_OFFSET`, see `_numba.quantize`).
        scale: (n,) float32 per-row scale of q.
        qnorm2: (n,) int32 |level|^2 per row.
        residual: (n,) float32 bound on |x - scale * level| per row.
        min_sq: (n,) float64 exact minimum squared distances; -1 marks selected rows.
        nearest: (n,) int32 position (selection order) of a selected row attaining `min_sq`.
        selected: Selected rows in selection order.
        centers: (>= first + count, d) float32: the selected rows' values in selection order
            (read here instead of `x`, whose rows may be spread over a mapped file).
        first: Position of the first new center.
        count: Number of new centers.
        center_sq: (>= count, >= first + count) float64 scratch: squared distances of each new
            center to every earlier selected position (filled here when `use_triangle`).
        block_rows: Rows per parallel block.
        top_rows: (n_blocks, top) int64: per block, its best rows (value descending, index
            ascending), -1 where the block has fewer.
        top_values: (n_blocks, top) float64, their values (-1 where no row).
        block_recomputed: Per block, how many (row, center) pairs needed float64.
        block_triangle: Per block, how many pairs the triangle inequality settled.
        use_triangle: Whether to try the triangle inequality.
        scratch: (threads, 2, block_rows) float64.
        block_first: The first block this call goes over (a pass may be made of several calls,
            each over a range of blocks).
        block_stop: The block after the last one.
        fill_triangle: Fill `center_sq` (the pass's first call, when `use_triangle`).
    """
    n, d = x.shape
    low = 1.0 - BOUND_SLACK
    high = 1.0 + BOUND_SLACK
    c64 = np.empty((count, d), dtype=np.float64)
    qc = np.empty((count, d), dtype=np.int8)
    sc = np.empty(count, dtype=np.float64)
    cterm = np.empty(count, dtype=np.float64)
    rc = np.empty(count, dtype=np.float64)
    shift = np.empty(count, dtype=np.float64)
    for t in range(count):
        for j in range(d):
            c64[t, j] = np.float64(centers[first + t, j])
        # Centers get their own 7-bit quantisation (see _simd: pair sums fit in 16 bits).
        s_c, squares, r_c, total = quantize_row(centers[first + t], qc[t], CENTER_LEVELS, 0)
        sc[t] = s_c
        cterm[t] = s_c * s_c * np.float64(squares)
        rc[t] = r_c * high
        shift[t] = np.float64(ROW_OFFSET * total)  # dot(q + offset, qc) - dot(q, qc)
    if use_triangle and fill_triangle:
        for t in range(count):
            for p in range(first + t):
                center_sq[t, p] = _pairwise_sq(centers[p], c64[t], 0, d)
    for t in range(count):
        min_sq[selected[first + t]] = _CHOSEN
    size = top_rows.shape[1]
    for b in numba.prange(block_first, block_stop):
        start = b * block_rows
        rows = min(n, start + block_rows) - start
        thread = numba.get_thread_id()  # type: ignore[attr-defined]
        reach = scratch[thread, 0]
        norms = scratch[thread, 1]
        rescan = top_rows[b, 0] < 0
        for p in range(size):
            row = top_rows[b, p]
            if row >= 0 and min_sq[row] < 0.0:
                rescan = True
        # Per row, once per pass: sqrt(current) + rho_x rounded up (inf while nothing is
        # selected: no bound can skip), and s_x^2 |q_x|^2.
        for k in range(rows):
            i = start + k
            sx = np.float64(scale[i])
            norms[k] = sx * sx * np.float64(qnorm2[i])
            reach[k] = (
                math.sqrt(max(min_sq[i], 0.0)) * (1.0 + 4.0 * BOUND_SLACK) + np.float64(residual[i]) * high
            )
        recomputed = 0
        triangle = 0
        if not use_triangle:
            # Row by row: its int8 dot products with four centers at a time (the row is read
            # once), then bound and exact distance per center in selection order.
            for k in range(rows):
                i = start + k
                if min_sq[i] < 0.0:
                    continue
                qi = q[i]
                sx = np.float64(scale[i])
                t = 0
                while t < count:
                    if t + 4 <= count:
                        dots4 = dot4_u8s8(qi, qc[t], qc[t + 1], qc[t + 2], qc[t + 3])
                        width = 4
                    else:
                        dots4 = (dot_u8s8(qi, qc[t]), np.int32(0), np.int32(0), np.int32(0))
                        width = 1
                    for u in range(width):
                        outcome = _settle(
                            x, c64, min_sq, nearest, top_rows, b, i, t + u, first, dots4[u],
                            sx, norms[k], reach[k], sc, cterm, rc, shift,
                        )  # fmt: skip
                        if outcome:
                            recomputed += 1
                            if outcome == 2:
                                rescan = True
                    t += width
        else:
            # One center at a time over the block (its int8 rows stay in the core's cache): the
            # triangle inequality (|c - a| >= 2 |x - a|, a the nearest selected row), else the
            # int8 dot product, bound and exact distance.
            for t in range(count):
                for k in range(rows):
                    i = start + k
                    current = min_sq[i]
                    if current < 0.0:
                        continue
                    if current < np.inf and center_sq[t, nearest[i]] * low > 4.0 * current * high:
                        triangle += 1
                        continue
                    outcome = _settle(
                        x, c64, min_sq, nearest, top_rows, b, i, t, first, dot_u8s8(q[i], qc[t]),
                        np.float64(scale[i]), norms[k], reach[k], sc, cterm, rc, shift,
                    )  # fmt: skip
                    if outcome:
                        recomputed += 1
                        if outcome == 2:
                            rescan = True
        if rescan:
            for p in range(size):
                top_rows[b, p] = -1
                top_values[b, p] = -1.0
            for i in range(start, start + rows):
                if min_sq[i] > top_values[b, size - 1]:
                    _insert_top(top_rows[b], top_values[b], i, min_sq[i])
        block_recomputed[b] = recomputed
        block_triangle[b] = triangle


@numba.njit(cache=True, fastmath=False)
def merge_top(
    top_rows: np.ndarray, top_values: np.ndarray, rows: np.ndarray, values: np.ndarray
) -> None:  # pragma: no cover
    """The best rows over all blocks (value descending, index ascending) into rows/values."""
    rows[:] = -1
    values[:] = -1.0
    for b in range(top_rows.shape[0]):  # blocks and their lists are in index order: ties go low
        for p in range(top_rows.shape[1]):
            row = top_rows[b, p]
            if row < 0 or top_values[b, p] <= values[values.shape[0] - 1]:
                break
            _insert_top(rows, values, row, top_values[b, p])


@numba.njit(cache=True, fastmath=False)
def batch_prefix(
    candidates: np.ndarray, rows: np.ndarray, values: np.ndarray, limit: int
) -> int:  # pragma: no cover
    """How many of the ranked candidates are exactly the next picks (at least 1, at most limit).

    `candidates` holds the values of `rows` (those that are not -1), in the same order.

    Candidate j joins while, for every earlier candidate i, the reference's squared distance of
    row j to center i is at least D(j): adding i then leaves D(j), and every other row, whose
    distance is at most D(j) and can only drop, cannot overtake it.
    """
    d = candidates.shape[1]
    c64 = np.empty(d, dtype=np.float64)
    m = 1
    while m < min(limit, rows.shape[0]) and rows[m] >= 0:
        for i in range(m):
            for j in range(d):
                c64[j] = np.float64(candidates[i, j])
            if _pairwise_sq(candidates[m], c64, 0, d) < values[m]:
                return m
        m += 1
    return m
