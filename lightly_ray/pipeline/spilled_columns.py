"""Per-sample columns the driver keeps in files on its local disk, mapped only while read.

After gathering, the driver holds the embedding matrix for selection, and beside it columns
that selection rarely reads: nine float64 Lightly metadata columns (144 MB at 2M samples), the
images' sizes, the frame columns of a video run. Their bytes go to files in a scratch folder
(raw, C order; the dtype and shape stay in memory), and each read maps the file read-only
(`numpy.memmap`): the pages a reader touches are in memory while it holds the array, and the
operating system's page cache, which it can drop under pressure, holds them otherwise. A run's
selection that reads none of them (DIVERSITY alone) never has them in memory; one that does
reads them from the page cache. A read parses no header (an `.npy` file's is parsed by `ast`,
whose parser CPython 3.11.7 does not guard against two threads at once: the report's thread
and the writing threads read these columns while the run writes).

The folder is made with `tempfile` (so under `TMPDIR` when that is set) and removed when the
last mapping that uses it is gone or the process exits.

Arrow tables the driver keeps for the end of the run (the listing, the content hashes) go to a
scratch file too (`mapped_table`), mapped back at once: the pages a read touches are resident
until `drop_mapped_pages` hands them back to the page cache, which the run does after each
pass over them (`row_moves.release_free_memory`, and after each slice it writes).
"""

from __future__ import annotations

import itertools
import mmap
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from lightly_ray.mapped_pages import release_all, remember

# Columns smaller than this stay in memory (a file and a mapping per read would cost more).
SPILL_MIN_BYTES = 1 << 20

__all__ = [
    "SPILL_MIN_BYTES",
    "ScratchFolder",
    "SpilledColumns",
    "columns_at",
    "drop_mapped_pages",
    "mapped_table",
]


class ScratchFolder:
    """A temporary folder on the driver's disk, removed when this object is garbage or at exit."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="lightly-ray-columns-"))
        weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)


@dataclass(frozen=True)
class _SpilledFile:
    """A column's raw bytes in a file, with what it takes to map them back."""

    path: Path
    dtype: np.dtype
    shape: tuple[int, ...]


class SpilledColumns(MutableMapping[str, np.ndarray]):
    """Columns by name: large numeric ones in files of a scratch folder, the others in memory.

    Reading a spilled column returns a read-only memory map of its file; writing one (assigning
    an array) keeps that array in memory. Iteration follows the order the columns were given in.

    Args:
        columns: The columns. Numeric arrays of at least `min_bytes` that own their memory are
            written to files; views of one value (zero strides), object arrays and small arrays
            stay as they are.
        folder: Where the files go; a new scratch folder when None.
        min_bytes: Smallest column that is written to a file (default `SPILL_MIN_BYTES`).
    """

    def __init__(
        self,
        columns: Mapping[str, np.ndarray],
        folder: ScratchFolder | None = None,
        min_bytes: int | None = None,
    ) -> None:
        self._order: list[str] = []
        self._memory: dict[str, np.ndarray] = {}
        self._files: dict[str, _SpilledFile] = {}
        self._folder = folder
        self._min_bytes = SPILL_MIN_BYTES if min_bytes is None else min_bytes
        self._numbers = itertools.count()
        for name, values in columns.items():
            self.add(name, values)

    def add(self, name: str, values: np.ndarray) -> None:
        """Set a column, written to a file when it is a large numeric one (see the class).

        The caller may drop `values` afterwards: a spilled column's bytes are in its file.
        """
        if not _spillable(values, self._min_bytes):
            self[name] = values
            return
        if self._folder is None:
            self._folder = ScratchFolder()
        path = self._folder.path / f"{id(self):x}-{next(self._numbers)}.bin"
        contiguous = np.ascontiguousarray(values)
        contiguous.tofile(path)
        if name not in self._order:
            self._order.append(name)
        self._memory.pop(name, None)
        self._files[name] = _SpilledFile(path, contiguous.dtype, contiguous.shape)

    @property
    def spilled(self) -> tuple[str, ...]:
        """The names of the columns that are in files."""
        return tuple(name for name in self._order if name in self._files)

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self._memory:
            return self._memory[name]
        spilled = self._files[name]  # KeyError for an unknown name, as a dict
        mapped: np.ndarray = np.memmap(spilled.path, dtype=spilled.dtype, mode="r", shape=spilled.shape)
        return mapped

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        if name not in self._memory and name not in self._files:
            self._order.append(name)
        self._files.pop(name, None)
        self._memory[name] = values

    def __delitem__(self, name: str) -> None:
        if name not in self._memory and name not in self._files:
            raise KeyError(name)
        self._memory.pop(name, None)
        self._files.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        return f"SpilledColumns({len(self)} columns, in files: {', '.join(self.spilled) or 'none'})"


def columns_at(columns: Mapping[str, np.ndarray], rows: np.ndarray) -> SpilledColumns:
    """The columns at `rows` (indices or a mask), each taken and spilled in turn."""
    taken = SpilledColumns({})
    for name in columns:
        taken.add(name, columns[name][rows])
    return taken


def mapped_table(table: pa.Table) -> pa.Table:
    """`table` written to a scratch file (Arrow IPC) and mapped back read-only, the same values.

    The file is unlinked at once: the mapping keeps its pages until the last buffer of the
    returned table is gone. Its memory is the page cache's, not the process's, until read; the
    pages read are the process's until `drop_mapped_pages`. A table under `SPILL_MIN_BYTES` is
    returned as it is.
    """
    if table.nbytes < SPILL_MIN_BYTES:
        return table
    handle, path = tempfile.mkstemp(prefix="lightly-ray-table-", suffix=".arrow")
    os.close(handle)
    try:
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        with open(path, "rb") as handle_file:
            pages = mmap.mmap(handle_file.fileno(), 0, access=mmap.ACCESS_READ)
    finally:
        os.unlink(path)
    # Zero copy: the table's buffers are slices of the map, which lives as long as they do.
    mapped: pa.Table = pa.ipc.open_file(pa.BufferReader(pa.py_buffer(pages))).read_all()
    remember(pages)
    return mapped


def drop_mapped_pages() -> None:
    """Let go of the pages of the driver's mapped files (`mapped_table`'s, the embedding matrix's).

    They stay in the page cache (`mapped_pages`). Called after each pass over the tables (a
    stage of the run, a slice of the rows written).
    """
    release_all()


def _spillable(values: np.ndarray, min_bytes: int) -> bool:
    return (
        isinstance(values, np.ndarray)
        and values.dtype.kind in "biuf"
        and values.nbytes >= min_bytes
        and 0 not in values.strides
    )
