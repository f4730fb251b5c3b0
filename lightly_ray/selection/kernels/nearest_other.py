"""The selected rows' distances to their nearest other selected row (DIVERSITY x WEIGHTS's A)."""

from __future__ import annotations

import math

import numpy as np

from lightly_ray.mapped_pages import take_rows
from lightly_ray.selection.kernels import _numba
from lightly_ray.selection.kernels.reference import sum_nearest_other


class NearestOther:
    """Each selected row's squared distance to its nearest other selected row, and their sum A.

    The selected rows are copied, in pick order, into one contiguous buffer, so the distances
    of a new row to all of them are read sequentially (not gathered from the whole matrix).

    Args:
        matrix: The (n, d) float32 embeddings the rows index (in memory or mapped).
    """

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix
        self.rows = np.empty(0, dtype=np.int64)  # ascending, as the engine sums them
        self.values = np.empty(0, dtype=np.float64)  # in the order of `rows`
        self._pick_of = np.empty(0, dtype=np.int64)  # position in pick order, in the order of `rows`
        self._picked = np.empty((16, matrix.shape[1]), dtype=np.float32)
        self._squared = np.empty(16, dtype=np.float64)

    def pick_distances(self, index: int) -> np.ndarray:
        """Squared distances of row `index` to the selected rows in pick order (a scratch view)."""
        count = len(self.rows)
        if count == len(self._picked):
            self._picked = np.concatenate([self._picked, np.empty_like(self._picked)])
            self._squared = np.empty(len(self._picked), dtype=np.float64)
        _numba.center_distances(self._picked[:count], self._row(index), self._squared[:count])
        return self._squared[:count]

    def add(self, index: int, pick_distances: np.ndarray | None = None) -> None:
        """Add a row; `pick_distances` is `pick_distances(index)` if the caller has it."""
        count = len(self.rows)
        in_pick_order = self.pick_distances(index) if pick_distances is None else pick_distances
        squared = in_pick_order[self._pick_of]
        np.minimum(self.values, squared, out=self.values)
        position = int(np.searchsorted(self.rows, index))
        own = float(squared.min()) if count else math.inf
        self._picked[count] = self._row(index)
        self.rows = np.insert(self.rows, position, index)
        self.values = np.insert(self.values, position, own)
        self._pick_of = np.insert(self._pick_of, position, count)

    def total(self) -> float:
        """A: the sum of the selected rows' squared distances to their nearest other one."""
        return sum_nearest_other(self.values)

    def _row(self, index: int) -> np.ndarray:
        """Row `index` of the matrix (read through the file when it is mapped: `take_rows`)."""
        row: np.ndarray = take_rows(self.matrix, np.array([index]))[0]
        return row
