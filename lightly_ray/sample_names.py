"""Sample names held as Arrow strings and read as a sequence of Python strings.

A run's driver holds the name of every sample from gathering to writing. As Python strings in
an object array a 48-character path costs about 112 bytes (the string object, rounded up by
Python's allocator, and the array's pointer to it): 1.1 GB at 10M samples, a fifth of the
embedding matrix. As an Arrow string column it costs its bytes and a 4-byte offset, 52 bytes.
`SampleNames` keeps them that way and answers `len`, `names[i]`, iteration, slicing, masks and
index arrays as a `Sequence[str]` does, making a Python string only for the name asked for.
A mask or index array gives a view (the names and the row indices, 8 bytes a row), so that the
selection pool's names (the candidates, most of the samples) are not a second copy.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.pipeline.chunked_take import take_in_slices
from lightly_ray.pipeline.sorted_lookup import SortedStrings

__all__ = ["CHUNK_ROWS", "SampleNames", "same_names"]

# Rows per chunk when names are taken, cast or turned into Python strings: a chunk's strings
# exist as Python objects only while it is read, and string's 32-bit offsets never overflow.
CHUNK_ROWS = 1 << 16


class SampleNames(Sequence[str]):
    """Names of samples (no nulls) as a chunked Arrow `string` column, read as `Sequence[str]`.

    Args:
        values: The names: an Arrow string or large_string array or chunked array (shared, not
            copied, when its type is already `string`), another `SampleNames`, or Python strings.

    Raises:
        ValueError: When a name is null.
    """

    __slots__ = ("_base", "_chunks", "_rows", "_starts")

    def __init__(self, values: pa.Array | pa.ChunkedArray | Iterable[str] = ()) -> None:
        if isinstance(values, SampleNames):
            arrow = values.arrow
        elif isinstance(values, pa.ChunkedArray | pa.Array):
            arrow = values
        else:
            arrow = pa.array(values if isinstance(values, np.ndarray) else list(values), pa.string())
        chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
        if any(chunk.null_count for chunk in chunks):
            raise ValueError("a sample name is null")
        if arrow.type != pa.string():
            chunks = [
                chunk.slice(start, CHUNK_ROWS).cast(pa.string())
                for chunk in chunks
                for start in range(0, len(chunk), CHUNK_ROWS)
            ]
        self._chunks: list[pa.StringArray] = [chunk for chunk in chunks if len(chunk)]
        self._base = pa.chunked_array(self._chunks, pa.string())
        self._starts: list[int] = np.cumsum([0, *(len(chunk) for chunk in self._chunks)]).tolist()
        self._rows: np.ndarray | None = None  # a view: these rows of the names, in this order

    @property
    def arrow(self) -> pa.ChunkedArray:
        """The names as an Arrow `string` column (a view's rows are taken: a new column)."""
        if self._rows is None:
            return self._base
        return take_in_slices(self._base, self._rows, CHUNK_ROWS)

    def __len__(self) -> int:
        return self._starts[-1] if self._rows is None else len(self._rows)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice | np.ndarray) -> SampleNames: ...

    def __getitem__(self, index: int | slice | np.ndarray) -> str | SampleNames:
        """A name (an int), or a view of the names at a slice, a boolean mask or row indices."""
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1 and self._rows is None:
                return SampleNames(self._base.slice(start, max(stop - start, 0)))
            return self.at_rows(np.arange(start, stop, step, dtype=np.int64))
        if isinstance(index, np.ndarray):
            if index.dtype == np.bool_:
                if len(index) != len(self):
                    raise IndexError(f"a mask of {len(index)} rows for {len(self)} names")
                return self.at_rows(np.flatnonzero(index))
            return self.at_rows(index)
        row = int(index)
        if not -len(self) <= row < len(self):
            raise IndexError(f"name {index} of {len(self)}")
        row %= len(self)
        if self._rows is not None:
            row = int(self._rows[row])
        chunk = bisect_right(self._starts, row) - 1
        text: str = self._chunks[chunk][row - self._starts[chunk]].as_py()
        return text

    def at_rows(self, rows: np.ndarray) -> SampleNames:
        """A view of the names at `rows` (any order, repeats allowed): no name is copied.

        The view keeps `rows` (when it is an int64 array of this view's base) rather than a copy:
        do not change it afterwards.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"rows must be in [-{len(self)}, {len(self)})")
        if len(rows) and rows.min() < 0:
            rows = np.where(rows < 0, rows + len(self), rows)
        view = object.__new__(SampleNames)
        view._chunks, view._base, view._starts = self._chunks, self._base, self._starts
        view._rows = rows if self._rows is None else self._rows[rows]
        return view

    def take(self, rows: np.ndarray) -> SampleNames:
        """The names at `rows` copied into a column of their own (for a few rows, or to write)."""
        return SampleNames(self.at_rows(rows).arrow)

    def __iter__(self) -> Iterator[str]:
        if self._rows is None:
            for chunk in self._chunks:
                for start in range(0, len(chunk), CHUNK_ROWS):
                    yield from chunk.slice(start, CHUNK_ROWS).to_pylist()
            return
        for start in range(0, len(self._rows), CHUNK_ROWS):
            yield from self.take(np.arange(start, min(start + CHUNK_ROWS, len(self)))).arrow.to_pylist()

    def tolist(self) -> list[str]:
        """Every name as a Python string (for a few names: each costs a string object)."""
        return list(self)

    def to_numpy(self) -> np.ndarray:
        """Every name in an object array of Python strings (for a few names)."""
        return np.array(self.tolist(), dtype=object)

    def equals(self, other: Sequence[str]) -> bool:
        """Whether `other` holds the same names in the same order."""
        if len(other) != len(self):
            return False
        if isinstance(other, SampleNames):
            return bool(self.arrow.equals(other.arrow))
        return all(mine == theirs for mine, theirs in zip(self, other, strict=True))

    def strictly_ascending(self) -> bool:
        """Whether each name is less than the next (sorted and unique), a slice at a time in Arrow."""
        for start in range(0, max(len(self) - 1, 0), CHUNK_ROWS):
            part = self[start : start + CHUNK_ROWS + 1].arrow
            if not pc.all(pc.less(part.slice(0, len(part) - 1), part.slice(1))).as_py():
                return False
        return True

    def __eq__(self, other: object) -> bool:
        """Equal to a sequence of the same names in the same order (a list, another `SampleNames`)."""
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return self.equals(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, so unhashable as they are

    def rows_of(self, wanted: Sequence[str] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Per wanted name, its row here (the first, when a name repeats), -1 where it is not here.

        Looked up in Arrow (`pipeline.sorted_lookup`): no dictionary of every name is made.
        """
        if isinstance(wanted, SampleNames):
            wanted = wanted.arrow
        elif not isinstance(wanted, pa.Array | pa.ChunkedArray):
            wanted = pa.array(list(wanted), pa.string())
        return SortedStrings(self.arrow).positions(wanted)

    @staticmethod
    def concat(parts: Iterable[SampleNames]) -> SampleNames:
        """The names of `parts`, one after another (a base's chunks shared, a view's taken)."""
        return SampleNames(
            pa.chunked_array([chunk for part in parts for chunk in part.arrow.chunks], pa.string())
        )

    def __repr__(self) -> str:
        shown = ", ".join(repr(name) for name in self[:3])
        return f"SampleNames([{shown}{', ...' if len(self) > 3 else ''}], {len(self)} names)"


def same_names(first: Sequence[str], second: Sequence[str]) -> bool:
    """Whether two sequences of names (`SampleNames` or Python strings) hold the same, in order."""
    if first is second:
        return True
    if isinstance(first, SampleNames):
        return first.equals(second)
    if isinstance(second, SampleNames):
        return second.equals(first)
    return list(first) == list(second)
