"""The embedding matrix in a file on the driver's local disk, mapped, never whole in its memory.

The float32 matrix is the largest thing a run's driver handles (1 GB at 2M x 128, 51 GB at
100M). Gathering writes each embedded block's rows to a scratch file as the block arrives
(`MatrixFile.add`), then writes a second file with the rows the run keeps in name order
(`MatrixFile.rows_in_order`) and maps it: selection, the report and the outputs read the
matrix from the page cache a part at a time and hand the pages back after each part
(`mapped_pages`), so the driver's own memory holds at most a part of it. While the machine has
the memory the page cache keeps the whole file, and a pass costs what it costs in memory (a
minor fault per page); when it does not, passes read from the local disk.

Putting the rows in order takes two passes (rows scattered over a mapped file would bring
most of its pages in at once): the first reads the arrival-order file a part at a time and
writes each row into its destination range of the result file (ranges of 32 MB, the rows of a
range in arrival order); the second maps the result and reorders each range in place. The
driver holds a part and a range at a time and an int64 per row; the disk holds twice the
matrix for a moment.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lightly_ray.mapped_pages import release_pages, remember, take_rows
from lightly_ray.pipeline.row_moves import permute_rows
from lightly_ray.pipeline.spilled_columns import SPILL_MIN_BYTES, ScratchFolder

# Bytes of rows read at a time in the first pass, and of a destination range.
PART_BYTES = 32 << 20
RANGE_BYTES = 32 << 20
# At most this many destination ranges (more rows make larger ranges).
MAX_RANGES = 1024


class MatrixFile:
    """Float32 rows appended to a scratch file as they arrive; none stays in memory.

    Args:
        folder: The scratch folder the files go to.
        dim: The rows' width, when known before the first block (no rows then give (0, dim)).
    """

    def __init__(self, folder: ScratchFolder, dim: int | None = None) -> None:
        self._folder = folder
        self.path = folder.path / f"matrix-{id(self):x}.f32"
        self._file = self.path.open("wb")
        self.rows = 0
        self.dim = dim

    def add(self, block: np.ndarray) -> None:
        """Append the rows of a (rows, dim) block (converted to float32).

        Raises:
            OSError: When the scratch disk cannot take them, saying where and how much.
        """
        rows = np.ascontiguousarray(block, dtype=np.float32)
        if rows.ndim != 2:
            raise ValueError(f"embeddings must be 2-D, got shape {rows.shape}")
        if self.dim is None:
            self.dim = rows.shape[1]
        elif rows.shape[1] != self.dim:
            raise ValueError(f"embeddings of width {rows.shape[1]} after embeddings of width {self.dim}")
        with self._scratch_disk():
            self._file.write(rows.data)
        self.rows += len(rows)

    def rows_in_order(self, source_rows: np.ndarray) -> np.ndarray:
        """The rows `source_rows` (distinct indices of added rows), in that order; this file goes.

        Returns:
            A (len(source_rows), dim) float32 matrix mapped from a new (unlinked) file, or in
            memory when it is under `SPILL_MIN_BYTES`.
        """
        self._file.close()
        dim = self.dim or 0
        sources = np.asarray(source_rows, dtype=np.int64)
        target = np.full(self.rows, -1, dtype=np.int64)
        target[sources] = np.arange(len(sources))  # IndexError for a row out of range
        if np.count_nonzero(target >= 0) != len(sources):
            raise ValueError("source_rows must be distinct")
        if not dim or not len(sources):
            self.path.unlink()
            return np.zeros((len(sources), dim), dtype=np.float32)
        if len(sources) == self.rows and bool((sources == np.arange(self.rows)).all()):
            return map_matrix(self.path, self.rows, dim)  # already in order
        out = self._folder.path / f"matrix-{id(self):x}-ordered.f32"
        with self._scratch_disk():
            ranges = self._distribute(target, len(sources), dim, out)
        self.path.unlink()
        matrix = map_matrix(out, len(sources), dim)
        for first, stop in ranges:  # each range's rows are in arrival order: put them in place
            arrived = target[np.sort(sources[first:stop])] - first
            order = np.empty_like(arrived)
            order[arrived] = np.arange(len(arrived))
            region = matrix[first:stop]
            permute_rows(region, order)
            release_pages(region)
        release_pages(matrix)  # a folio across two ranges is mapped again by the second
        return matrix

    @contextlib.contextmanager
    def _scratch_disk(self) -> Iterator[None]:
        """An OSError writing the files says where they go, how much they need and what to set."""
        try:
            yield
        except OSError as error:
            size = self.rows * 4 * (self.dim or 0)
            raise OSError(
                f"cannot write the embedding matrix ({size / 2**30:.2f} GB so far, about twice "
                f"that while it is put in name order) to the driver's scratch folder "
                f"{self._folder.path}: {error}. Set TMPDIR to a folder on a local disk with room."
            ) from error

    def _distribute(self, target: np.ndarray, count: int, dim: int, out: Path) -> list[tuple[int, int]]:
        """Pass one: every kept row written into its destination range of `out`, in arrival order."""
        row_bytes = 4 * dim
        range_rows = max(1, RANGE_BYTES // row_bytes, -(-count // MAX_RANGES))
        ranges = [(first, min(count, first + range_rows)) for first in range(0, count, range_rows)]
        filled = np.array([first for first, _ in ranges], dtype=np.int64)  # next row to write
        part_rows = max(1, PART_BYTES // row_bytes)
        fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, count * row_bytes)
            with self.path.open("rb") as source:
                for start in range(0, self.rows, part_rows):
                    size = min(part_rows, self.rows - start)
                    part = np.fromfile(source, dtype=np.float32, count=size * dim).reshape(size, dim)
                    where = target[start : start + size]
                    kept = np.flatnonzero(where >= 0)
                    which = where[kept] // range_rows
                    by_range = np.argsort(which, kind="stable")
                    kept, which = kept[by_range], which[by_range]
                    bounds = np.searchsorted(which, np.arange(len(ranges) + 1))
                    for index in np.flatnonzero(np.diff(bounds)).tolist():
                        rows = part[kept[bounds[index] : bounds[index + 1]]]
                        if os.pwrite(fd, rows.data, int(filled[index]) * row_bytes) != rows.nbytes:
                            raise OSError(f"short write of {rows.nbytes} bytes to {out}")
                        filled[index] += len(rows)
        finally:
            os.close(fd)
        return ranges


def rows_in_file(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`values[rows]` as a new matrix mapped from a scratch file (in memory when small).

    The rows are read a part at a time (`mapped_pages.take_rows`), so neither a mapped `values`
    nor the copy is ever whole in the process's memory.
    """
    written = MatrixFile(ScratchFolder(), values.shape[1])
    part_rows = max(1, PART_BYTES // max(1, values.shape[1] * 4))
    for first in range(0, len(rows), part_rows):
        written.add(take_rows(values, rows[first : first + part_rows]))
    return written.rows_in_order(np.arange(written.rows))


def map_matrix(path: Path, rows: int, dim: int) -> np.ndarray:
    """The (rows, dim) float32 file at `path`, mapped (shared, writable) and the file unlinked.

    The mapping lives as long as the array (and its views); the file's disk space goes with it.
    A matrix under `SPILL_MIN_BYTES` is read into memory instead.
    """
    if rows * dim * 4 < SPILL_MIN_BYTES:
        matrix = np.fromfile(path, dtype=np.float32).reshape(rows, dim)
        path.unlink()
        return matrix
    fd = os.open(path, os.O_RDWR)
    try:
        pages = mmap.mmap(fd, 0, access=mmap.ACCESS_WRITE)
    except BaseException:
        os.close(fd)
        raise
    path.unlink()
    remember(pages, fd)  # a few rows are read through the file (`mapped_pages.take_rows`)
    return np.frombuffer(pages, dtype=np.float32).reshape(rows, dim)
