"""Reorder and compact the rows of the embedding matrix in place, without a second copy.

At tens of millions of samples the float32 embedding matrix is the largest thing the driver
holds (5.1 GB at 10M x 128). Sorting it by name with `matrix[order]` or dropping corrupt rows
with `matrix[mask]` makes a whole second matrix for a moment; these kernels move rows inside
the one buffer instead (one spare row, plus a byte per row to mark the moved ones).
"""

from __future__ import annotations

import numba
import numpy as np


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


@numba.njit(cache=True, nogil=True)
def _compact(matrix: np.ndarray, keep: np.ndarray) -> int:  # pragma: no cover - JIT
    kept = 0
    for row in range(keep.shape[0]):
        if keep[row]:
            if kept != row:
                matrix[kept] = matrix[row]
            kept += 1
    return kept


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


def compact_rows(matrix: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Move the rows where `keep` is true to the front, in order; return them as a view.

    The rows after the kept ones are left as they were; the view shares the buffer.

    Args:
        matrix: A C-contiguous 2-D array.
        keep: A bool mask over the rows.
    """
    if len(keep) != len(matrix):
        raise ValueError(f"keep has {len(keep)} entries for {len(matrix)} rows")
    if keep.all():
        return matrix
    kept = _compact(_rows(matrix), np.ascontiguousarray(keep, dtype=np.bool_)) if len(keep) else 0
    return matrix[:kept]


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


__all__ = ["compact_rows", "permute_rows"]
