"""Exact duplicates among gathered samples: files whose bytes hash the same.

The first file in name order of each group of identical bytes is the original; the others are
its duplicates (`GatheredSamples.duplicate_of`). Found by sorting the rows by hash, not by a
dictionary of the hashes, so that two million of them cost two index arrays and a slice.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.pipeline.chunked_take import take

__all__ = ["first_with_same_hash"]


def first_with_same_hash(hashes: pa.ChunkedArray, ok: np.ndarray) -> np.ndarray:
    """Per row, the first row (in name order) that decoded with the same content hash; itself if none.

    Frames and unread files carry no hash ("") and are nobody's duplicate. The rows are sorted
    by hash (a stable sort: equal hashes keep name order) and neighbours compared a slice at a
    time, so that the hashes are never copied whole (a copy or a hash table of 2M hashes is
    over 70 MB beside the matrix).
    """
    first = np.arange(len(hashes))
    hashed = ok & pc.not_equal(hashes, "").to_numpy(zero_copy_only=False)
    order = pc.sort_indices(hashes).to_numpy()
    order = order[hashed[order]]  # name order within a hash
    if not len(order):
        return first
    starts = np.ones(len(order), dtype=bool)  # where a new hash begins in `order`
    for start in range(1, len(order), COMPARE_ROWS):
        stop = min(start + COMPARE_ROWS, len(order))
        part = take(hashes, order[start - 1 : stop])
        starts[start:stop] = pc.not_equal(part.slice(1), part.slice(0, stop - start)).to_numpy(
            zero_copy_only=False
        )
    leader = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    first[order] = order[leader]
    return first


# Hashes compared per slice in `first_with_same_hash`.
COMPARE_ROWS = 1 << 16
