# mypy: disallow-untyped-decorators=False
"""One fused Triton kernel per pick for exact farthest-first on CUDA.

Per pick a single kernel reads an int8 copy of the matrix (d bytes a row, padded to a multiple
of 16, plus the float32 scale and a float32 threshold per row), bounds every row's distance to
the new center from below with exact integer dot products (`dp4a`), recomputes in float64
(numpy's pairwise order, no fused multiply-adds) only the rows whose bound does not rule out a
smaller minimum, and keeps, per block of rows, the row with the largest minimum.
`torch.argmax` over the blocks' maxima and a one-program kernel then write the next center to
device memory, so the picks need no host synchronisation.

The bound (see `docs/selection_gpu.md`): x = s_x q_x + r_x with |r_x| <= rho_x, so
|x - c| >= A - rho_x - rho_c with A = |s_x q_x - s_c q_c|. The float32 threshold of a row is
T_x >= sqrt(min_sq_x) (1 + 1e-9) + rho_x. A row is skipped only when the computed lower bound
a2 <= A^2 satisfies `a2 (1 - 1e-9) > (T_x + rho_c)^2 (1 + 1e-9)`: then A > T_x + rho_c, the
exact distance exceeds sqrt(min_sq_x) (1 + 1e-9), and numpy's float64 value of its square
exceeds min_sq_x, so the reference's minimum does not change either.

Triton is imported when this module is; `torch_path` imports it only for CUDA tensors (or when
asked to), so the package works without Triton. With `TRITON_INTERPRET=1` set before the import
the kernels run on CPU tensors (slowly; for tests).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import triton  # type: ignore[import-untyped]
import triton.language as tl  # type: ignore[import-untyped]

from lightly_ray.selection.kernels.farthest_first import FarthestFirstResult
from lightly_ray.selection.kernels.int8_bound import HIGH, LOW, THRESHOLD_ROUND_UP, block_rows, quantize_rows
from lightly_ray.selection.kernels.reference import STOP_BUDGET, STOP_MINIMUM_DISTANCE

BLOCK_M = 128  # 32 rows per warp: one row per thread
NUM_WARPS = 4
DOT = "dp4a"
DOT_MODES = {"sum": 0, "dp4a": 1}
# Picks per captured CUDA graph (0: every kernel launched from Python, the default until the
# graph path has been timed against it on a GPU: launches only matter below a few million rows).
GRAPH_PICKS = 0
# Picks between host checks of `minimum_distance` without graphs (later picks are discarded).
CHECK_EVERY = 32


@triton.jit
def _sq(
    x_ptr: torch.Tensor, rows_off: torch.Tensor, c_off: torch.Tensor, mask: torch.Tensor, j: int
) -> tl.tensor:
    """fl(fl(float64(x[:, j]) - float64(c[j])) ** 2) for the masked rows (0 elsewhere)."""
    v = tl.load(x_ptr + rows_off + j, mask=mask, other=0.0).to(tl.float64)
    diff = v - tl.load(x_ptr + c_off + j).to(tl.float64)
    return diff * diff


@triton.jit
def _leaf_sq(
    x_ptr: torch.Tensor,
    rows_off: torch.Tensor,
    c_off: torch.Tensor,
    mask: torch.Tensor,
    lo: tl.constexpr,
    count: tl.constexpr,
) -> tl.tensor:
    """Numpy's pairwise_sum leaf (count <= 128): eight interleaved accumulators, then the tail."""
    if count < 8:
        res = _sq(x_ptr, rows_off, c_off, mask, lo)
        for j in tl.static_range(lo + 1, lo + count):
            res = res + _sq(x_ptr, rows_off, c_off, mask, j)
    else:
        r0 = _sq(x_ptr, rows_off, c_off, mask, lo)
        r1 = _sq(x_ptr, rows_off, c_off, mask, lo + 1)
        r2 = _sq(x_ptr, rows_off, c_off, mask, lo + 2)
        r3 = _sq(x_ptr, rows_off, c_off, mask, lo + 3)
        r4 = _sq(x_ptr, rows_off, c_off, mask, lo + 4)
        r5 = _sq(x_ptr, rows_off, c_off, mask, lo + 5)
        r6 = _sq(x_ptr, rows_off, c_off, mask, lo + 6)
        r7 = _sq(x_ptr, rows_off, c_off, mask, lo + 7)
        for j in range(lo + 8, lo + count - count % 8, 8):  # a loop, not unrolled: compiles fast
            r0 = r0 + _sq(x_ptr, rows_off, c_off, mask, j)
            r1 = r1 + _sq(x_ptr, rows_off, c_off, mask, j + 1)
            r2 = r2 + _sq(x_ptr, rows_off, c_off, mask, j + 2)
            r3 = r3 + _sq(x_ptr, rows_off, c_off, mask, j + 3)
            r4 = r4 + _sq(x_ptr, rows_off, c_off, mask, j + 4)
            r5 = r5 + _sq(x_ptr, rows_off, c_off, mask, j + 5)
            r6 = r6 + _sq(x_ptr, rows_off, c_off, mask, j + 6)
            r7 = r7 + _sq(x_ptr, rows_off, c_off, mask, j + 7)
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for j in tl.static_range(lo + count - count % 8, lo + count):
            res = res + _sq(x_ptr, rows_off, c_off, mask, j)
    return res


@triton.jit
def _pairwise_sq(
    x_ptr: torch.Tensor,
    rows_off: torch.Tensor,
    c_off: torch.Tensor,
    mask: torch.Tensor,
    lo: tl.constexpr,
    count: tl.constexpr,
) -> tl.tensor:
    """Numpy's pairwise_sum of the squared differences over columns [lo, lo + count)."""
    if count <= 128:
        res = _leaf_sq(x_ptr, rows_off, c_off, mask, lo, count)
    else:
        # numpy's split: the first half a multiple of 8 (constexprs, resolved at compile time)
        left = _pairwise_sq(x_ptr, rows_off, c_off, mask, lo, count // 2 - count // 2 % 8)
        right = _pairwise_sq(
            x_ptr,
            rows_off,
            c_off,
            mask,
            lo + count // 2 - count // 2 % 8,
            count - count // 2 + count // 2 % 8,
        )
        res = left + right
    return res


@triton.jit
def _dp4a(a: tl.tensor, b: tl.tensor) -> tl.tensor:
    """Per int32 word: the sum of the four products of its signed bytes (exact)."""
    return tl.inline_asm_elementwise(
        "dp4a.s32.s32 $0, $1, $2, 0;", "=r,r,r", [a, b], dtype=tl.int32, is_pure=True, pack=1
    )


@triton.jit
def _chunk(
    q_ptr: torch.Tensor,
    pid: tl.tensor,
    c_off: tl.tensor,
    k: int,
    dot: tl.tensor,
    norm: tl.tensor,
    block_m: tl.constexpr,
    chunks: tl.constexpr,
    dot_mode: tl.constexpr,
) -> tuple[tl.tensor, tl.tensor]:
    """Add bytes [16 k, 16 k + 16) of q_x . q_c and |q_x|^2 for the block's rows."""
    local = tl.arange(0, block_m)
    if dot_mode == 1:  # q_ptr: four int8 per int32 word; dp4a: four products and their sum
        words = tl.arange(0, 4)
        off = pid.to(tl.int64) * (chunks * block_m * 4) + k * block_m * 4
        qt = tl.load(q_ptr + off + local[:, None] * 4 + words[None, :])
        qc = tl.load(q_ptr + c_off // 4 + k * block_m * 4 + words)
        dot += tl.sum(_dp4a(qt, tl.broadcast_to(qc[None, :], qt.shape)), axis=1)
        norm += tl.sum(_dp4a(qt, qt), axis=1)
    else:
        cols = tl.arange(0, 16)
        off = pid.to(tl.int64) * (chunks * block_m * 16) + k * block_m * 16
        qt = tl.load(q_ptr + off + local[:, None] * 16 + cols[None, :]).to(tl.int32)
        qc = tl.load(q_ptr + c_off + k * block_m * 16 + cols).to(tl.int32)
        dot += tl.sum(qt * qc[None, :], axis=1)
        norm += tl.sum(qt * qt, axis=1)
    return dot, norm


@triton.jit
def _update_kernel(
    x_ptr: torch.Tensor,
    q_ptr: torch.Tensor,
    scale_ptr: torch.Tensor,
    qnorm_ptr: torch.Tensor,
    rho_ptr: torch.Tensor,
    thresh_ptr: torch.Tensor,
    min_sq_ptr: torch.Tensor,
    best_idx_ptr: torch.Tensor,
    best_val_ptr: torch.Tensor,
    center_ptr: torch.Tensor,
    n: int,
    dim: tl.constexpr,
    block_m: tl.constexpr,
    chunks: tl.constexpr,
    dot_mode: tl.constexpr,
    low: tl.constexpr,
    high: tl.constexpr,
    round_up: tl.constexpr,
) -> None:
    """Add the row at `center_ptr` to the selected set, for one block of block_m rows."""
    pid = tl.program_id(0)
    rows = pid.to(tl.int64) * block_m + tl.arange(0, block_m)
    ok = rows < n
    c = tl.load(center_ptr)
    # 1. Exact integer dot products q_x . q_c (int32: |q| <= 127 and d <= MAX_DIM). q is stored in
    #    blocks of block_m rows, 16 bytes of every row at a time ([blocks, chunks, block_m, 16],
    #    zero padded): each load of a program is contiguous and each thread holds whole rows, so
    #    the sums need no shuffles and every row's bound below is computed once.
    c_off = (c // block_m) * (chunks * block_m * 16) + (c % block_m) * 16
    dot = tl.zeros([block_m], dtype=tl.int32)
    norm = tl.zeros([block_m], dtype=tl.int32)  # |q_x|^2, recomputed here: 4 bytes a row less to read
    if chunks <= 16:  # unrolled: every load of the program in flight at once
        for k in tl.static_range(chunks):
            dot, norm = _chunk(q_ptr, pid, c_off, k, dot, norm, block_m, chunks, dot_mode)
    else:  # wide rows: a loop (an unrolled one compiles for minutes)
        for k in range(chunks):
            dot, norm = _chunk(q_ptr, pid, c_off, k, dot, norm, block_m, chunks, dot_mode)
    # 2. a2 <= |s_x q_x - s_c q_c|^2 =: A^2. Skip the row when a2 low > (T_x + rho_c)^2 high,
    #    which proves A > T_x + rho_c, i.e. |x - c| > T_x - rho_x >= sqrt(min_sq_x) (1 + 1e-9).
    sx = tl.load(scale_ptr + rows, mask=ok, other=1.0).to(tl.float64)
    p1 = sx * sx * norm.to(tl.float64)
    sc = tl.load(scale_ptr + c).to(tl.float64)
    p2 = sc * sc * tl.load(qnorm_ptr + c).to(tl.float64)
    p3 = 2.0 * (sx * sc) * dot.to(tl.float64)
    a2 = (p1 + p2 - p3) - 1e-12 * (p1 + p2 + tl.abs(p3))
    thresh = tl.load(thresh_ptr + rows, mask=ok, other=float("-inf")).to(tl.float64)
    reach = thresh + tl.load(rho_ptr + c) * high
    is_c = ok & (rows == c)
    flag = ok & (rows != c) & (thresh >= 0) & (a2 * low <= reach * reach * high)
    # 3. Exact float64 distances (numpy's order) for the flagged rows only.
    exact = tl.zeros([block_m], dtype=tl.float64)
    dropped = flag & (rows < 0)
    if tl.max(flag.to(tl.int32), axis=0) > 0:
        old = tl.load(min_sq_ptr + rows, mask=flag, other=0.0)
        exact = _pairwise_sq(x_ptr, rows * dim, c * dim, flag, 0, dim)
        dropped = flag & (exact < old)
        rho_x = tl.load(rho_ptr + rows, mask=dropped, other=0.0)
        t64 = (tl.sqrt(exact) * high + rho_x * high) * round_up
        tl.store(min_sq_ptr + rows, exact, mask=dropped)
        tl.store(thresh_ptr + rows, t64.to(tl.float32), mask=dropped)
    minus_one = tl.full([block_m], -1.0, dtype=tl.float64)
    tl.store(min_sq_ptr + rows, minus_one, mask=is_c)
    tl.store(thresh_ptr + rows, tl.full([block_m], float("-inf"), dtype=tl.float32), mask=is_c)
    # 4. The block's best row (largest minimum, lowest index on ties). Minima only drop, so it
    #    only changes when it was just selected or its own minimum dropped.
    best = tl.load(best_idx_ptr + pid)
    stale = tl.max((is_c | (dropped & (rows == best))).to(tl.int32), axis=0)
    if stale > 0:
        kept = ok & ~dropped & ~is_c
        cur = tl.load(min_sq_ptr + rows, mask=kept, other=float("-inf"))
        cur = tl.where(dropped, exact, cur)
        cur = tl.where(is_c, minus_one, cur)
        top = tl.max(cur, axis=0)
        first = tl.min(tl.where(cur == top, rows, n), axis=0)
        tl.store(best_idx_ptr + pid, first)
        tl.store(best_val_ptr + pid, top)


@triton.jit
def _finish_kernel(
    block_ptr: torch.Tensor,
    best_idx_ptr: torch.Tensor,
    best_val_ptr: torch.Tensor,
    state_ptr: torch.Tensor,
    picks_ptr: torch.Tensor,
    values_ptr: torch.Tensor,
) -> None:
    """Pick t = state[1]: the winning block's row becomes the center state[0] and picks[t]."""
    b = tl.load(block_ptr)
    index = tl.load(best_idx_ptr + b)
    t = tl.load(state_ptr + 1)
    tl.store(state_ptr, index)
    tl.store(picks_ptr + t, index)
    tl.store(values_ptr + t, tl.load(best_val_ptr + b))
    tl.store(state_ptr + 1, t + 1)


class _Engine:
    """Device state of one run: the int8 copy, minima, thresholds and per-block best rows."""

    def __init__(self, x: torch.Tensor, count: int, block_m: int, num_warps: int, dot: str) -> None:
        n, dim = x.shape
        device = x.device
        q, scale, qnorm, rho = quantize_rows(x)
        self.min_sq = torch.full((n,), math.inf, dtype=torch.float64, device=device)
        thresh = torch.full((n,), math.inf, dtype=torch.float32, device=device)
        blocks = triton.cdiv(n, block_m)
        self.best_idx = torch.arange(0, blocks * block_m, block_m, dtype=torch.int64, device=device)
        self.best_val = torch.full((blocks,), math.inf, dtype=torch.float64, device=device)
        self.state = torch.zeros(2, dtype=torch.int64, device=device)  # center, next pick slot
        self.block = torch.zeros((), dtype=torch.int64, device=device)
        self.picks = torch.zeros(count, dtype=torch.int64, device=device)
        self.values = torch.full((count,), math.inf, dtype=torch.float64, device=device)
        self.grid = (blocks,)
        mode = _dot_mode(dot, x.is_cuda)
        chunks = -(-dim // 16)
        q = block_rows(q, block_m, chunks)
        if mode == DOT_MODES["dp4a"]:
            q = q.view(torch.int32)  # four int8 per word
        state = (self.best_idx, self.best_val, self.state)
        self.args = (x, q, scale, qnorm, rho, thresh, self.min_sq, *state, n)
        self.consts = {
            "dim": dim,
            "block_m": block_m,
            "chunks": chunks,
            "dot_mode": mode,
            "low": LOW,
            "high": HIGH,
            "round_up": THRESHOLD_ROUND_UP,
        }
        self.num_warps = num_warps

    def add(self) -> None:
        """Add the center state[0] to the selected set."""
        _update_kernel[self.grid](*self.args, **self.consts, num_warps=self.num_warps, enable_fp_fusion=False)

    def pick(self) -> None:
        """Record the best row as pick state[1] and make it the center."""
        torch.argmax(self.best_val, dim=0, out=self.block)  # the first index among equal maxima
        _finish_kernel[(1,)](self.block, self.best_idx, self.best_val, self.state, self.picks, self.values)

    def steps(self, count: int) -> None:
        """Pick and add, `count` times."""
        for _ in range(count):
            self.pick()
            self.add()


def farthest_first_triton(
    x: torch.Tensor,
    budget: int,
    *,
    preselected: np.ndarray | None = None,
    minimum_distance: float | None = None,
    block_m: int = BLOCK_M,
    num_warps: int = NUM_WARPS,
    dot: str = DOT,
    graph_picks: int = GRAPH_PICKS,
) -> FarthestFirstResult:
    """Farthest-first with one fused Triton kernel per pick (see the module docstring).

    Args:
        x: Contiguous float32 tensor (n, d) with 0 < d <= MAX_DIM and n < 2^31 (CUDA, or CPU
            under `TRITON_INTERPRET=1`).
        budget: Size of the selection, preselected rows included (capped at n).
        preselected: Rows already selected.
        minimum_distance: Stop when the best candidate's Euclidean distance is below this.
        block_m: Rows per program (a power of two; 32 * num_warps gives each thread one row).
        num_warps: Warps per program.
        dot: How the int8 dot products are computed: "dp4a" (four products and their sum per
            instruction) or "sum" (int32 products, then a sum). CPU tensors (the interpreter)
            always use "sum".
        graph_picks: On CUDA, picks per captured CUDA graph (0: launch every kernel from Python);
            when positive, also the number of picks between host checks of `minimum_distance`.

    Returns:
        The picks, their distances at pick time and the stop reason.
    """
    n = x.shape[0]
    chosen = np.unique(np.asarray(preselected if preselected is not None else [], dtype=np.int64))
    if len(chosen) and (chosen[0] < 0 or chosen[-1] >= n):
        raise IndexError("preselected index out of range")
    count = max(min(int(budget), n) - len(chosen), 0)
    if count == 0:
        return FarthestFirstResult(np.zeros(0, dtype=np.int64), np.zeros(0), STOP_BUDGET)
    engine = _Engine(x, count, block_m, num_warps, dot)
    for row in chosen:
        engine.state[:1].fill_(int(row))
        engine.add()
    done = 0
    if len(chosen) == 0:  # the first pick is row 0 at distance inf (picks[0], values[0] as set)
        engine.state[1:].fill_(1)
        done = 1
        if count > 1:
            engine.add()
    batch = graph_picks if graph_picks > 0 else CHECK_EVERY
    use_graph = x.is_cuda and graph_picks > 0
    graph: torch.cuda.CUDAGraph | None = None
    stop_at: int | None = None
    first_batch = True
    while done < count - 1 and stop_at is None:  # every pick but the last is followed by an add
        steps = min(batch, count - 1 - done)
        if use_graph and steps == batch and not first_batch:  # the first batch compiles the kernels
            if graph is None:
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):  # captured, not run
                    engine.steps(batch)
            graph.replay()
        else:
            engine.steps(steps)
        first_batch = False
        if minimum_distance is not None:
            stop_at = _first_below(engine.values, done, done + steps, minimum_distance)
        done += steps
    if stop_at is None and done < count:
        engine.pick()
        if minimum_distance is not None:
            stop_at = _first_below(engine.values, done, done + 1, minimum_distance)
        done += 1
    end = done if stop_at is None else stop_at
    return FarthestFirstResult(
        engine.picks[:end].cpu().numpy(),
        np.sqrt(engine.values[:end].cpu().numpy()),
        STOP_BUDGET if stop_at is None else STOP_MINIMUM_DISTANCE,
    )


def _dot_mode(dot: str, cuda: bool) -> int:
    if dot not in DOT_MODES:
        raise ValueError(f"dot must be one of {sorted(DOT_MODES)}, got {dot!r}")
    return DOT_MODES[dot] if cuda else DOT_MODES["sum"]  # the interpreter has no inline PTX


def _first_below(values: torch.Tensor, start: int, end: int, minimum_distance: float) -> int | None:
    below = np.flatnonzero(np.sqrt(values[start:end].cpu().numpy()) < minimum_distance)
    return start + int(below[0]) if len(below) else None
