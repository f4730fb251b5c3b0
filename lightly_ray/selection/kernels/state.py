"""The building block: a matrix, its int8 copy and the exact running minimum distances."""

from __future__ import annotations

import math

import numba
import numpy as np

from lightly_ray.selection.kernels import _numba

_BLOCK_ROWS = 2048
_MAX_DIM = 133_000  # int32 accumulation of int8 products stays exact below this


class MinDistanceState:
    """Running minimum squared distances of every row to a growing selected set.

    The minimum distances are exact: each one is bit-identical to
    `min over selected c of ((float64(x) - float64(c)) ** 2).sum()` as numpy computes it, so any
    argmax over them equals the float64 reference's. Rows are skipped on `add` only when a
    rigorous lower bound (triangle inequality, or an int8 copy of the matrix with a per-row
    rounding-error bound) proves the new distance is not smaller.

    Memory: the caller's float32 matrix (not copied when C-contiguous float32) plus n * (d + 24)
    bytes (int8 copy, scale, int8 norm, residual bound, minimum distance, nearest selected) and
    16 bytes per selected row.

    Args:
        embeddings: Array of shape (n, d), float32 (other dtypes are converted to float32 first).
    """

    def __init__(self, embeddings: np.ndarray) -> None:
        matrix = np.ascontiguousarray(embeddings, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError(f"embeddings must be 2-D, got shape {matrix.shape}")
        n, dim = matrix.shape
        if dim >= _MAX_DIM:
            raise ValueError(f"dim must be below {_MAX_DIM}, got {dim}")
        if n and not np.isfinite(matrix).all():
            raise ValueError("embeddings must be finite")
        self.matrix = matrix
        self.n = n
        self.dim = dim
        self._q = np.empty((n, dim), dtype=np.int8)
        self._scale = np.empty(n, dtype=np.float32)
        self._qnorm2 = np.empty(n, dtype=np.int32)
        self._residual = np.empty(n, dtype=np.float32)
        if n:
            _numba.quantize(matrix, self._q, self._scale, self._qnorm2, self._residual)
        self._min_sq = np.full(n, np.inf, dtype=np.float64)
        self._nearest = np.zeros(n, dtype=np.int32)
        self._selected = np.empty(min(max(n, 1), 1024), dtype=np.int64)  # grows by doubling
        self._center_sq = np.empty(len(self._selected), dtype=np.float64)
        self._count = 0
        n_blocks = max(1, math.ceil(n / _BLOCK_ROWS))
        self._block_best = np.full(n_blocks, -1, dtype=np.int64)
        self._block_best_value = np.full(n_blocks, -1.0, dtype=np.float64)
        self._block_recomputed = np.zeros(n_blocks, dtype=np.int64)
        self._block_triangle = np.zeros(n_blocks, dtype=np.int64)
        self._triangle_pause = 0
        self._best = 0 if n else -1
        self.recomputed_rows = 0
        """Rows whose distance was computed in float64 over all `add` calls (the rest were pruned)."""

    @property
    def nbytes(self) -> int:
        """Bytes this object allocated (the float32 matrix excluded)."""
        arrays = (
            self._q,
            self._scale,
            self._qnorm2,
            self._residual,
            self._min_sq,
            self._nearest,
            self._selected,
            self._center_sq,
        )
        return int(sum(a.nbytes for a in arrays))

    @property
    def selected(self) -> np.ndarray:
        """Selected row indices in the order they were added."""
        return self._selected[: self._count].copy()

    def is_selected(self, index: int) -> bool:
        """Whether row `index` is in the selected set."""
        return bool(self._min_sq[index] < 0.0)

    def add(self, index: int) -> None:
        """Add row `index` to the selected set (no-op if it is already selected).

        Updates the minimum distances of all rows exactly and the best candidate.
        """
        index = int(index)
        if not 0 <= index < self.n:
            raise IndexError(f"row {index} out of range for {self.n} rows")
        if self._min_sq[index] < 0.0:
            return
        pos = self._count
        if pos == len(self._selected):
            self._selected = np.concatenate([self._selected, np.empty_like(self._selected)])
            self._center_sq = np.empty(len(self._selected), dtype=np.float64)
        self._selected[pos] = index
        self._count += 1
        # Blocks are handed out one at a time (dynamic scheduling): on a busy machine a thread
        # that loses its core delays the pick by one block, not by half the matrix.
        # The triangle inequality only pays on clustered data; when it settles under 2 % of the
        # rows, skip it (and its k x d center table) for the next 32 picks, then try again.
        use_triangle = self._triangle_pause == 0
        self._triangle_pause = max(0, self._triangle_pause - 1)
        previous_chunksize = numba.get_parallel_chunksize()
        numba.set_parallel_chunksize(1)
        _numba.add_center(
            self.matrix,
            self._q,
            self._scale,
            self._qnorm2,
            self._residual,
            self._min_sq,
            self._nearest,
            self._selected,
            self._center_sq,
            index,
            pos,
            _BLOCK_ROWS,
            self._block_best,
            self._block_best_value,
            self._block_recomputed,
            self._block_triangle,
            use_triangle,
        )
        numba.set_parallel_chunksize(previous_chunksize)
        self.recomputed_rows += int(self._block_recomputed.sum())
        if use_triangle and pos and int(self._block_triangle.sum()) < 0.02 * self.n:
            self._triangle_pause = 32
        self._best = int(_numba.reduce_best(self._block_best, self._block_best_value))

    def best(self) -> tuple[int, float]:
        """The unselected row farthest from the selected set, ties to the lowest index.

        Returns:
            (row, squared Euclidean distance in float64); (-1, -1.0) when every row is selected.
            With nothing selected yet: (0, inf).
        """
        if self._best < 0:
            return -1, -1.0
        return self._best, float(self._min_sq[self._best])

    def min_sq_distances(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Exact float64 minimum squared distances to the selected set (0 for selected rows).

        Args:
            rows: Row indices, or None for all rows.

        Returns:
            A new float64 array; inf everywhere while nothing is selected.
        """
        values = self._min_sq.copy() if rows is None else self._min_sq[np.asarray(rows, dtype=np.int64)]
        values[values < 0.0] = 0.0
        return values

    def raw_min_sq(self) -> np.ndarray:
        """The internal array (read-only view): -1 marks selected rows."""
        view = self._min_sq.view()
        view.flags.writeable = False
        return view
