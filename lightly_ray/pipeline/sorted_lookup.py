"""Look up many strings in a large set of strings without a hash table of the whole set.

`pyarrow.compute.index_in` answers "where is each of these strings in that array" with a hash
table that holds a copy of every value of the array: about 100 bytes a value, 197 MB for two
million 48-character paths, allocated beside the embedding matrix when the driver writes the
dataset's processed rows (its peak). `SortedStrings.positions` gives the same answer from two sorts of
row indices (8 bytes a row each): the wanted strings are taken in sorted order a slice at a
time, the values of the same range are found by binary search in the sorted values, and only
that range goes into `index_in`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.pipeline.chunked_take import take

# Wanted strings looked up together; a slice whose range holds more than RANGE_FACTOR times as
# many values (at least SPARSE_RANGE: wanted strings spread thinly over the values) is split in
# two, down to single strings found by binary search. So 1,000 names looked up in 2M values read
# the values near each of them, not every value (130 MB of a mapped listing's pages at 2M).
LOOKUP_ROWS = 1 << 16
RANGE_FACTOR = 4
SPARSE_RANGE = 1 << 10

__all__ = ["SortedStrings", "is_sorted"]

# Neighbours compared per slice in `is_sorted`.
SORTED_CHECK_ROWS = 1 << 16


def is_sorted(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether the strings are in ascending order (equal neighbours allowed), a slice at a time."""
    count = len(values)
    for start in range(0, max(count - 1, 0), SORTED_CHECK_ROWS):
        stop = min(start + SORTED_CHECK_ROWS, count - 1)
        earlier = values.slice(start, stop - start)
        later = values.slice(start + 1, stop - start)
        if not pc.all(pc.less_equal(earlier, later)).as_py():
            return False
    return True


class SortedStrings:
    """Strings sorted once (their row indices), to look many others up in them.

    Args:
        values: The strings (string or large_string, no nulls).

    Raises:
        ValueError: When `values` holds nulls.
    """

    def __init__(self, values: pa.Array | pa.ChunkedArray) -> None:
        if values.null_count:
            raise ValueError("SortedStrings looks up strings, not nulls")
        self.values = values
        # A run's listing comes sorted by name (`list_images`): then the order is the rows' own,
        # and no sort reads every value again.
        self.order = (
            np.arange(len(values), dtype=np.int64)
            if is_sorted(values)
            else pc.sort_indices(values).to_numpy()  # stable: equal values keep their order
        )

    def positions(self, wanted: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Per wanted string, its position in the values, -1 where it is not there.

        The answer of `pc.index_in(wanted, value_set=values)` (the first position of a value
        that occurs more than once), with memory for a few slices instead of a copy of the values.

        Raises:
            ValueError: When `wanted` holds nulls.
        """
        result = np.full(len(wanted), -1, dtype=np.int64)
        if not len(wanted) or not len(self.values):
            return result
        if wanted.null_count:
            raise ValueError("SortedStrings looks up strings, not nulls")
        want_order = pc.sort_indices(wanted).to_numpy()
        count = len(want_order)
        pending = [(start, min(start + LOOKUP_ROWS, count)) for start in range(0, count, LOOKUP_ROWS)]
        while pending:
            start, stop = pending.pop()
            rows = want_order[start:stop]
            part = pc.cast(take(wanted, rows), pa.large_string())
            low = bisect_left(range(len(self.order)), part[0].as_py(), key=self._value_at)
            high = bisect_right(range(len(self.order)), part[-1].as_py(), lo=low, key=self._value_at)
            if high - low > RANGE_FACTOR * max(stop - start, SPARSE_RANGE) and stop - start > 1:
                middle = (start + stop) // 2
                pending.extend([(start, middle), (middle, stop)])
                continue
            candidates = self.order[low:high]
            in_range = pc.cast(take(self.values, candidates), pa.large_string())
            found = pc.index_in(part, value_set=in_range).fill_null(-1).to_numpy(zero_copy_only=False)
            hit = found >= 0
            result[rows[hit]] = candidates[found[hit]]
        return result

    def _value_at(self, index: int) -> str:
        text: str = self.values[int(self.order[index])].as_py()
        return text
