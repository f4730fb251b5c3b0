"""Which rows of a large array hold only finite values, checked a slice of rows at a time.

`numpy.isfinite` of a whole (n, d) embedding matrix is a boolean mask a quarter of the float32
matrix's size, held beside it; a slice at a time the check costs one slice's mask and one
boolean a row. Selection checks its inputs with it (`input_values.require_finite`, the
engine's row checks) and so does the compiled kernels' state. The pages of a mapped matrix's
slice are handed back after it (`mapped_pages`).
"""

from __future__ import annotations

import numpy as np

from lightly_ray.mapped_pages import release_pages

# Rows per slice of the check.
FINITE_CHECK_ROWS = 1 << 16

__all__ = ["FINITE_CHECK_ROWS", "finite_rows"]


def finite_rows(values: np.ndarray) -> np.ndarray:
    """Per row (the first axis), whether every value in it is finite; a boolean array."""
    finite = np.ones(len(values), dtype=bool)
    for start in range(0, len(values), FINITE_CHECK_ROWS):
        part = np.isfinite(values[start : start + FINITE_CHECK_ROWS])
        if part.ndim > 1:
            part = part.all(axis=tuple(range(1, part.ndim)))
        finite[start : start + FINITE_CHECK_ROWS] = part
        release_pages(values[start : start + FINITE_CHECK_ROWS])  # a mapped matrix's part
    release_pages(values)  # the folios across slices, mapped again by the next slice
    return finite
