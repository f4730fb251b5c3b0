"""The building block: a matrix, its int8 copy and the exact running minimum distances."""

from __future__ import annotations

import math

import numba
import numpy as np

from lightly_ray.mapped_pages import is_mapped, release_pages, take_rows
from lightly_ray.selection.finite import finite_rows
from lightly_ray.selection.kernels import _batch, _numba

_BLOCK_ROWS = 2048
# A mapped matrix is gone over in parts of about this many bytes (at least 8 blocks a thread).
_PART_BYTES = 64 << 20
_MAX_DIM = 133_000
_MAX_TRIANGLE_BATCH = 64  # larger batches (preselected rows) skip the triangle table


def _block_ranges(matrix: np.ndarray, n_blocks: int) -> list[tuple[int, int]]:
    """Ranges of blocks a pass goes over: all at once in memory, a part at a time if mapped."""
    if not is_mapped(matrix):
        return [(0, n_blocks)]
    threads = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    per_part = max(8 * threads, _PART_BYTES // max(1, _BLOCK_ROWS * matrix.shape[1] * 4))
    return [(first, min(n_blocks, first + per_part)) for first in range(0, n_blocks, per_part)]


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
        candidates: How many of the best rows `top` ranks (the longest batch `farthest_batch`
            can return).
    """

    def __init__(self, embeddings: np.ndarray, candidates: int = 1) -> None:
        matrix = np.ascontiguousarray(embeddings, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError(f"embeddings must be 2-D, got shape {matrix.shape}")
        n, dim = matrix.shape
        if dim >= _MAX_DIM:
            raise ValueError(f"dim must be below {_MAX_DIM}, got {dim}")
        if n and not finite_rows(matrix).all():  # a slice at a time (no mask of the matrix)
            raise ValueError("embeddings must be finite")
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates}")
        self.matrix = matrix
        self.n = n
        self.dim = dim
        self._q = np.empty((n, dim), dtype=np.uint8)
        self._scale = np.empty(n, dtype=np.float32)
        self._qnorm2 = np.empty(n, dtype=np.int32)
        self._residual = np.empty(n, dtype=np.float32)
        # A mapped matrix (pipeline/matrix_file.py) is read a part at a time, each part's pages
        # handed back after it: the process never holds the whole float32 matrix.
        n_blocks = max(1, math.ceil(n / _BLOCK_ROWS))
        self._block_ranges = _block_ranges(matrix, n_blocks)
        for first, stop in self._block_ranges:
            part = slice(first * _BLOCK_ROWS, stop * _BLOCK_ROWS)
            q, scale, qnorm2 = self._q[part], self._scale[part], self._qnorm2[part]
            _numba.quantize(matrix[part], q, scale, qnorm2, self._residual[part])
            release_pages(matrix[part])
        release_pages(matrix)
        self._min_sq = np.full(n, np.inf, dtype=np.float64)
        self._nearest = np.zeros(n, dtype=np.int32)
        self._selected = np.empty(min(max(n, 1), 1024), dtype=np.int64)  # grows by doubling
        self._centers = np.empty((len(self._selected), dim), dtype=np.float32)  # their values
        self._center_sq = np.empty((1, len(self._selected)), dtype=np.float64)
        self._count = 0
        self._top_rows = np.full((n_blocks, candidates), -1, dtype=np.int64)
        self._top_values = np.full((n_blocks, candidates), -1.0, dtype=np.float64)
        self._rows = np.full(candidates, -1, dtype=np.int64)
        self._values = np.full(candidates, -1.0, dtype=np.float64)
        if n:
            self._rows[0], self._values[0] = 0, np.inf  # nothing selected: row 0 first
        self._block_recomputed = np.zeros(n_blocks, dtype=np.int64)
        self._block_triangle = np.zeros(n_blocks, dtype=np.int64)
        threads = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
        self._scratch = np.empty((threads, 2, _BLOCK_ROWS), dtype=np.float64)
        self._triangle_pause = 0
        self._held: list[tuple[int, float]] = []
        self.recomputed_rows = 0
        """(row, center) distances computed in float64 over all `add` calls (the rest were pruned)."""
        self.passes = 0
        """Passes over the rows so far (one per `add` / `add_many` call that added something)."""

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
            self._top_rows,
            self._top_values,
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

        Updates the minimum distances of all rows exactly and the best candidates.
        """
        self.add_many(np.array([index], dtype=np.int64))

    def hold(self, index: int) -> None:
        """Make an unselected row read as selected (-1) in `raw_min_sq` until the next `add_many`.

        Callers that pick several rows before one pass over the matrix hold each pick so that
        their scans skip it, then add them all. `best` and `top` still list held rows.
        """
        if self._min_sq[index] >= 0.0:
            self._held.append((int(index), float(self._min_sq[index])))
            self._min_sq[index] = _batch._CHOSEN

    def add_many(self, indices: np.ndarray) -> None:
        """Add rows to the selected set in one pass over the matrix (already selected: skipped).

        Held rows (`hold`) get their distances back first.

        Args:
            indices: Row indices; their order is the selection order.
        """
        for row, value in self._held:
            self._min_sq[row] = value
        self._held.clear()
        rows = np.asarray(indices, dtype=np.int64).ravel()
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n):
            bad = int(rows[(rows < 0) | (rows >= self.n)][0])
            raise IndexError(f"row {bad} out of range for {self.n} rows")
        _, first_seen = np.unique(rows, return_index=True)
        rows = rows[np.sort(first_seen)]
        rows = rows[self._min_sq[rows] >= 0.0]
        if not len(rows):
            return
        first = self._count
        while first + len(rows) > len(self._selected):
            self._selected = np.concatenate([self._selected, np.empty_like(self._selected)])
            self._centers = np.concatenate([self._centers, np.empty_like(self._centers)])
        self._selected[first : first + len(rows)] = rows
        self._centers[first : first + len(rows)] = take_rows(self.matrix, rows)
        self._count += len(rows)
        # The triangle inequality only pays on clustered data; when it settles under 2 % of the
        # (row, center) pairs, skip it (and its center table) for the next 32 passes.
        # Large batches (preselected rows) skip it too: its table has one row per new center.
        use_triangle = self._triangle_pause == 0 and first > 0 and len(rows) <= _MAX_TRIANGLE_BATCH
        self._triangle_pause = max(0, self._triangle_pause - 1)
        if use_triangle and (
            self._center_sq.shape[0] < len(rows) or self._center_sq.shape[1] < len(self._selected)
        ):
            self._center_sq = np.empty((max(len(rows), self._center_sq.shape[0]), len(self._selected)))
        # Blocks are handed out one at a time (dynamic scheduling): on a busy machine a thread
        # that loses its core delays the pass by one block, not by half the matrix.
        previous_chunksize = numba.get_parallel_chunksize()
        numba.set_parallel_chunksize(1)
        for block_first, block_stop in self._block_ranges:
            _batch.add_centers(
                self.matrix,
                self._q,
                self._scale,
                self._qnorm2,
                self._residual,
                self._min_sq,
                self._nearest,
                self._selected,
                self._centers,
                first,
                len(rows),
                self._center_sq,
                _BLOCK_ROWS,
                self._top_rows,
                self._top_values,
                self._block_recomputed,
                self._block_triangle,
                use_triangle,
                self._scratch,
                block_first,
                block_stop,
                block_first == 0,
            )
            release_pages(self.matrix[block_first * _BLOCK_ROWS : block_stop * _BLOCK_ROWS])
        release_pages(self.matrix)  # the folios across parts, mapped again by the next part
        numba.set_parallel_chunksize(previous_chunksize)
        self.passes += 1
        self.recomputed_rows += int(self._block_recomputed.sum())
        if use_triangle and int(self._block_triangle.sum()) < 0.02 * self.n * len(rows):
            self._triangle_pause = 32
        _batch.merge_top(self._top_rows, self._top_values, self._rows, self._values)

    def best(self) -> tuple[int, float]:
        """The unselected row farthest from the selected set, ties to the lowest index.

        Returns:
            (row, squared Euclidean distance in float64); (-1, -1.0) when every row is selected.
            With nothing selected yet: (0, inf).
        """
        return int(self._rows[0]), float(self._values[0])

    def top(self) -> tuple[np.ndarray, np.ndarray]:
        """The `candidates` best unselected rows (distance descending, index ascending).

        Returns:
            (rows, squared distances), copies; -1 pads both when fewer rows are unselected.
        """
        return self._rows.copy(), self._values.copy()

    def farthest_batch(self, limit: int) -> np.ndarray:
        """The next picks of greedy farthest-first that are certain now (at least one).

        The ranked candidates c_1, c_2, ... are the next picks for as long as each keeps its
        distance when the earlier ones are added (its reference distance to each of them is at
        least its own minimum distance): then no other row can overtake it. See `_batch`.

        Args:
            limit: The most rows to return (the remaining budget), at least 1.

        Returns:
            Row indices in pick order; empty when every row is selected.
        """
        if self._rows[0] < 0:
            return np.empty(0, dtype=np.int64)
        if self._count == 0:
            return self._rows[:1].copy()  # row 0: every distance is infinite
        ranked = self._rows[: int(np.count_nonzero(self._rows >= 0))]
        candidates = take_rows(self.matrix, ranked)  # a few rows: not gathered over a mapped file
        size = int(_batch.batch_prefix(candidates, ranked, self._values, max(1, int(limit))))
        return self._rows[:size].copy()

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
