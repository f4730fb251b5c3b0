"""The driver's memory-mapped scratch files, and handing their pages back to the page cache.

A page of a mapped file that a read touches is part of the process's resident memory until
the mapping goes or the process says it no longer needs it (`madvise(MADV_DONTNEED)`). The
page cache keeps it either way: the next read maps it again without going to disk while the
machine has the memory, and under memory pressure the system can drop it there, as it cannot
drop the process's own memory. The driver maps its large scratch files (the listing, the
content hashes, the embedding matrix) and hands their pages back after each part of a pass
over them (`release_pages`, the rows a part read) or after each pass (`release_all`).

Scattered reads of a mapped file touch most of it (the system maps large files in folios of up
to 2 MB), so a pass goes over a mapped file in order, a part at a time.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
import weakref
from dataclasses import dataclass

import numpy as np
from numpy.lib.array_utils import byte_bounds

# Rows read at a time when `take_rows` goes over a mapped matrix in order.
PART_ROWS = 1 << 16
# `take_rows` reads through the file (no mapping) when it wants fewer runs of consecutive rows
# than 1 in this many rows.
SPARSE = 16

_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Mapping:
    pages: weakref.ReferenceType[mmap.mmap]
    address: int
    length: int
    fd: int | None  # the file, open while the mapping lives (`take_rows` reads through it)


_MAPS: list[_Mapping] = []


def remember(pages: mmap.mmap, fd: int | None = None) -> None:
    """Count `pages` among the mappings that `release_pages` and `release_all` hand back.

    Args:
        pages: The mapping.
        fd: A descriptor of the mapped file that `take_rows` may read through; it is closed
            when the mapping goes.
    """
    if not len(pages):
        return
    address = byte_bounds(np.frombuffer(pages, dtype=np.uint8))[0]
    if fd is not None:
        weakref.finalize(pages, os.close, fd)
    with _LOCK:
        _MAPS.append(_Mapping(weakref.ref(pages), address, len(pages), fd))


def _live() -> list[tuple[mmap.mmap, _Mapping]]:
    with _LOCK:
        live = [(entry.pages(), entry) for entry in _MAPS]
        _MAPS[:] = [entry for pages, entry in live if pages is not None]
    return [(pages, entry) for pages, entry in live if pages is not None]


def _mapping_of(values: np.ndarray) -> _Mapping | None:
    if not values.nbytes:
        return None
    low, high = byte_bounds(values)
    for _, entry in _live():
        if entry.address <= low and high <= entry.address + entry.length:
            return entry
    return None


def is_mapped(values: np.ndarray) -> bool:
    """Whether `values` lies in a remembered mapping (a pass over it should go part by part)."""
    return _mapping_of(values) is not None


def take_rows(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`values[rows]` (a copy), read from a mapped matrix without keeping its pages.

    A read of one row maps a whole folio of the file (up to 2 MB) into the process, so rows
    spread over a mapped matrix would bring most of it in. A few runs of consecutive rows (a
    few rows, or a slice) are read through the file instead (`os.preadv`, one read a run, from
    the page cache); many a part of the matrix at a time in order, each part's pages handed
    back after it. Arrays in memory are indexed as they are.
    """
    entry = _mapping_of(values)
    wanted = np.asarray(rows)
    if entry is None or values.ndim != 2 or not values.flags.c_contiguous:
        indexed: np.ndarray = values[wanted]
        return indexed
    if wanted.dtype == bool:
        if wanted.shape != (len(values),):
            raise IndexError(f"a mask of {wanted.shape} for {len(values)} rows")
        wanted = np.flatnonzero(wanted)
    wanted = wanted.astype(np.int64, copy=False).ravel()
    wanted = np.where(wanted < 0, wanted + len(values), wanted)
    if len(wanted) and (wanted.min() < 0 or wanted.max() >= len(values)):
        raise IndexError(f"row index out of range for {len(values)} rows")
    taken = np.empty((len(wanted), values.shape[1]), dtype=values.dtype)
    if not len(wanted):
        return taken
    breaks = np.flatnonzero(np.diff(wanted) != 1) + 1  # runs of consecutive rows: one read each
    if entry.fd is not None and (len(breaks) + 1) * SPARSE < len(values):
        start = byte_bounds(values)[0] - entry.address
        row_bytes = values.strides[0]
        firsts, stops = [0, *breaks.tolist()], [*breaks.tolist(), len(wanted)]
        for first, stop in zip(firsts, stops, strict=True):
            part = taken[first:stop]
            offset = start + int(wanted[first]) * row_bytes
            if _read_into(entry.fd, part.data.cast("B"), offset) != part.nbytes:
                raise OSError(f"short read of {part.nbytes} bytes from a mapped matrix")
        return taken
    order = np.argsort(wanted, kind="stable")
    ascending = wanted[order]
    for first in range(0, len(values), PART_ROWS):
        low, high = np.searchsorted(ascending, [first, first + PART_ROWS])
        if low < high:
            taken[order[low:high]] = values[ascending[low:high]]
            release_pages(values[first : first + PART_ROWS])
    release_pages(values)  # the folios across parts, mapped again by the next part
    return taken


def _read_into(fd: int, buffer: memoryview, offset: int) -> int:
    """Bytes read from the file at `offset` into `buffer` (no copy where `os.preadv` exists)."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buffer], offset)
    data = os.pread(fd, len(buffer), offset)
    buffer[: len(data)] = data
    return len(data)


def release_pages(values: np.ndarray) -> None:
    """Hand back the pages that `values` (a view of a mapped file) covers; no-op for memory.

    Whole pages are handed back, so the rows on either side of `values` that share its first
    and last page are too: reading them again maps them again.
    """
    if not values.nbytes or not _MAPS:
        return
    low, high = byte_bounds(values)
    for pages, entry in _live():
        address, length = entry.address, entry.length
        start, stop = max(low, address), min(high, address + length)
        if start >= stop:
            continue
        first = (start - address) // mmap.PAGESIZE * mmap.PAGESIZE
        last = min(length, -(-(stop - address) // mmap.PAGESIZE) * mmap.PAGESIZE)
        with contextlib.suppress(ValueError, OSError):  # closed, or no madvise on this system
            pages.madvise(mmap.MADV_DONTNEED, first, last - first)


def release_all() -> None:
    """Hand back every page of every remembered mapping (called after a pass over them)."""
    for pages, _ in _live():
        with contextlib.suppress(ValueError, OSError):
            pages.madvise(mmap.MADV_DONTNEED)
