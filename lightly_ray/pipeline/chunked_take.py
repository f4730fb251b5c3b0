"""Rows of a chunked Arrow column, taken chunk by chunk.

`pyarrow.ChunkedArray.take` (and `pyarrow.compute.take` on a chunked array) first concatenates
every chunk into one array, whatever the number of rows asked for: taking 1,000 names from a
listing of two million in chunks of 100,000 allocated 102 MB (pyarrow 26, measured with
`default_memory_pool().max_memory()`). The driver takes rows of its chunked columns (the
listing's names and sizes, the content hashes) a slice at a time, so that cost was paid per
slice. `take` here takes each chunk's rows from that chunk alone.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["take", "take_in_slices"]


def take(values: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """`values[rows]` as one array, in the order of `rows`, without concatenating the chunks.

    Args:
        values: The column.
        rows: Row indices (any order, repeats allowed).

    Raises:
        IndexError: When a row is negative or beyond the column.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(values)):
        raise IndexError(f"rows must be in [0, {len(values)})")
    if isinstance(values, pa.Array):
        return values.take(pa.array(rows))
    chunks = [chunk for chunk in values.chunks if len(chunk)]
    if not len(rows) or not chunks:
        return pa.array([], values.type)
    if len(chunks) == 1:
        return chunks[0].take(pa.array(rows))
    starts = np.cumsum([0] + [len(chunk) for chunk in chunks[:-1]])
    which = np.searchsorted(starts, rows, side="right") - 1
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(chunks) + 1))
    parts = [
        chunks[index].take(pa.array(rows[order[low:high]] - starts[index]))
        for index, (low, high) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
        if low < high
    ]
    grouped = parts[0] if len(parts) == 1 else pa.concat_arrays(parts)
    if bool((np.diff(which) >= 0).all()):  # rows already grouped by chunk: order is the identity
        return grouped
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    return grouped.take(pa.array(inverse))


def take_in_slices(
    values: pa.Array | pa.ChunkedArray, rows: np.ndarray, slice_rows: int, kind: pa.DataType | None = None
) -> pa.ChunkedArray:
    """`take` of `rows` a slice of `slice_rows` at a time, each slice cast to `kind` if given.

    A whole column permuted this way holds the column and its permuted copy, never a third
    (concatenated) copy; with `kind` a string column can leave `large_string` for `string`
    slice by slice (32-bit offsets need slices of under 2 GiB).
    """
    kind = kind or values.type
    return pa.chunked_array(
        [
            take(values, rows[start : start + slice_rows]).cast(kind)
            for start in range(0, len(rows), slice_rows)
        ],
        type=kind,
    )
