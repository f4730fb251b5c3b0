"""The driver's rows: one buffer per column, and rows reordered in place.

`permute_rows` moves rows inside one buffer instead of making a second one with
`matrix[order]` (one spare row, plus a byte per row to mark the moved ones); the embedding
matrix's file is put in name order with it a range at a time (`matrix_file`).
`ColumnBuffer` collects a column's blocks into one growing array as they arrive, and
`release_free_memory` hands what was freed back to the system.
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any

import numba
import numpy as np
import pyarrow as pa

from lightly_ray.pipeline.spilled_columns import drop_mapped_pages


@numba.njit(cache=True, nogil=True)
def _permute(matrix: np.ndarray, order: np.ndarray, done: np.ndarray) -> None:  # pragma: no cover - JIT
    spare = np.empty(matrix.shape[1], dtype=matrix.dtype)
    for start in range(order.shape[0]):
        if done[start] or order[start] == start:
            continue
        spare[:] = matrix[start]
        row = start
        while True:
            done[row] = 1
            source = order[row]
            if source == start:
                matrix[row] = spare
                break
            matrix[row] = matrix[source]
            row = source


def permute_rows(matrix: np.ndarray, order: np.ndarray) -> None:
    """Reorder the rows of `matrix` in place so that row i becomes the old row `order[i]`.

    Args:
        matrix: A C-contiguous 2-D array.
        order: A permutation of range(len(matrix)), int64.

    Raises:
        ValueError: When `order` is not a permutation of the rows.
    """
    order = np.ascontiguousarray(order, dtype=np.int64)
    if len(order) != len(matrix) or not _is_permutation(order):
        raise ValueError(f"order is not a permutation of {len(matrix)} rows")
    if len(order):
        _permute(_rows(matrix), order, np.zeros(len(order), dtype=np.uint8))


class ColumnBuffer:
    """One growing array that a column's blocks are copied into as they arrive.

    One buffer per column instead of a list of block arrays: the blocks' memory is freed as
    they pass instead of fragmenting the heap until the end, and nothing is concatenated. A 1-D
    column whose rows all hold one value so far (the frame columns of a run without videos,
    `ok` without corrupt files) keeps only that value until a block brings another: five such
    columns are 80 MB at 2M samples.
    """

    def __init__(self, expected_rows: int | None, dtype: np.dtype[Any] | type) -> None:
        self.expected = max(int(expected_rows or 0), 0)
        self.dtype = np.dtype(dtype)
        self.values: np.ndarray | None = None
        self.constant: np.ndarray | None = None  # shape (1,): the one value of every row so far
        self.rows = 0

    @property
    def is_constant(self) -> bool:
        """Whether every row added so far holds one value (then `result` is a view of it)."""
        return self.values is None and self.constant is not None

    def add(self, block: np.ndarray) -> None:
        """Append a block's rows (cast to the buffer's type)."""
        count = len(block)
        if self.values is None and self._same_value(block):
            if self.constant is None and count:
                self.constant = np.array(block[:1], dtype=self.dtype)
            self.rows += count
            return
        if self.values is None:
            # Untouched rows of np.empty cost no memory, so the expected count is free to reserve.
            rows = max(self.expected, self.rows + count, 1)
            self.values = np.empty((rows, *block.shape[1:]), dtype=self.dtype)
            if self.constant is not None:
                self.values[: self.rows] = self.constant
                self.constant = None
        elif block.shape[1:] != self.values.shape[1:]:
            raise ValueError(f"rows of shape {block.shape[1:]} and {self.values.shape[1:]} in one run")
        if self.rows + count > len(self.values):  # more rows than expected (crops): grow by half
            rows = max(self.rows + count, len(self.values) * 3 // 2)
            grown = np.empty((rows, *self.values.shape[1:]), dtype=self.dtype)
            grown[: self.rows] = self.values[: self.rows]
            self.values = grown
        self.values[self.rows : self.rows + count] = block
        self.rows += count

    def result(self) -> np.ndarray:
        """The rows added so far: a view of the buffer, or a read-only view of the one value."""
        if self.values is not None:
            return self.values[: self.rows]
        if self.constant is None:
            return np.empty(0, dtype=self.dtype)
        return np.broadcast_to(self.constant, (self.rows,))

    def _same_value(self, block: np.ndarray) -> bool:
        """Whether `block` (1-D) holds only the buffer's one value (any one value when it has none)."""
        if block.ndim != 1:
            return False
        if not len(block):
            return True
        first = np.array(block[:1], dtype=self.dtype)
        if self.constant is not None and not bool(first[0] == self.constant[0]):
            return False
        return bool((block.astype(self.dtype, copy=False) == first[0]).all())


def release_free_memory() -> None:
    """Hand memory that was freed back to the operating system (Arrow's pool, glibc's heap).

    The pages of mapped scratch tables that reads brought in go back to the page cache too
    (`spilled_columns.drop_mapped_pages`).

    The blocks' many small arrays leave the heap fragmented, and allocators keep freed memory
    for reuse: at 2M samples that is over 600 MB the driver would otherwise keep resident.
    """
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    drop_mapped_pages()


def _rows(matrix: np.ndarray) -> np.ndarray:
    if matrix.ndim != 2 or not matrix.flags.c_contiguous:
        raise ValueError("rows are moved in a C-contiguous 2-D array only")
    return matrix


def _is_permutation(order: np.ndarray) -> bool:
    if not len(order):
        return True
    if order.min() < 0 or order.max() >= len(order):
        return False
    seen = np.zeros(len(order), dtype=bool)
    seen[order] = True
    return bool(seen.all())


__all__ = ["ColumnBuffer", "permute_rows", "release_free_memory"]
