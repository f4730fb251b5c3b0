"""Embeddings kept as they are computed, so that rerunning a run that died reuses them.

Each embedding actor writes every batch it embeds, as processed rows (`datasets/rows.py`), to
`.lightly/datasets/<name>/cache/<settings key>/` in the lightly location, in a background
thread (the model does not wait for storage). The settings key is a hash of the embedding
settings, so rows are only ever reused by a run that would compute the same embeddings.
A run reads the cache before its pipeline: a listed file whose rows are all there (same size
and modification time) is not decoded or embedded again. Once a run has published its
processed rows to the dataset, it empties the cache.

A part is written atomically; a run killed mid-write leaves no partial part. Writing the cache
never fails a run: a part that cannot be written is logged, and those rows are recomputed by a
rerun if one is needed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lightly_ray.datasets.current_rows import file_keys
from lightly_ray.storage import Location

logger = logging.getLogger("lightly_ray")

CACHE_FOLDER = "cache"


def settings_key(settings: dict[str, Any]) -> str:
    """A short, stable hash of the embedding settings (`datasets.settings.embedding_settings`)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class CacheTarget:
    """Where a run's embedding actors write their parts (travels to the actors).

    Attributes:
        location: The lightly location (read-write).
        folder: The cache folder of the dataset and settings, relative to the location.
        run_id: The writing run (the parts' names start with it).
    """

    location: Location
    folder: str
    run_id: str

    @classmethod
    def of(
        cls, location: Location, dataset_folder: str, settings: dict[str, Any], run_id: str
    ) -> CacheTarget:
        """The cache of a dataset for these embedding settings."""
        return cls(location, f"{dataset_folder}/{CACHE_FOLDER}/{settings_key(settings)}", run_id)


class CacheWriter:
    """Writes parts in one background thread; `close` waits for them.

    Args:
        target: Where to write.
    """

    def __init__(self, target: CacheTarget) -> None:
        self.target = target
        self._prefix = f"{target.run_id}-{uuid.uuid4().hex[:8]}"
        self._count = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lightly-ray-cache")
        self._pending: list[Future[None]] = []

    def write(self, rows: pa.Table) -> None:
        """Queue one part (processed rows)."""
        self._count += 1
        path = f"{self.target.folder}/{self._prefix}-{self._count:06d}-{rows.num_rows}.parquet"
        self._pending = [future for future in self._pending if not future.done()]
        self._pending.append(self._pool.submit(_write_part, self.target.location, path, rows))

    def close(self) -> None:
        """Wait for every queued part."""
        self._pool.shutdown(wait=True)


def wait_for_cache(target: CacheTarget, rows: int, timeout_s: float = 30.0) -> bool:
    """Wait until the parts of `target.run_id` hold `rows` rows (their names say how many).

    The actors write in the background; a run waits for them before it goes on, so that from
    selection on everything it embedded survives a crash.

    Returns:
        Whether they did within the timeout (a part that could not be written never will).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        written = 0
        for listed in target.location.list_files(target.folder, include_hidden=True):
            name = listed.path.rsplit("/", 1)[-1]
            if name.startswith(f"{target.run_id}-") and name.endswith(".parquet"):
                written += int(name.removesuffix(".parquet").rsplit("-", 1)[-1])
        if written >= rows:
            return True
        if time.monotonic() > deadline:
            logger.warning(
                "the embedding cache holds %d of the run's %d rows after %.0fs: a rerun after a crash "
                "would embed the rest again",
                written,
                rows,
                timeout_s,
            )
            return False
        time.sleep(0.05)


def _write_part(location: Location, path: str, rows: pa.Table) -> None:
    try:
        with location.open_atomic_output(path) as stream:
            pq.write_table(rows, stream)
    except Exception as error:  # noqa: BLE001 - the cache must never fail a run
        logger.warning("could not write embedding cache part %s: %s", path, error)


def read_cache(location: Location, folder: str) -> pa.Table | None:
    """Every row of the cache folder (None when it is empty); unreadable parts are skipped."""
    tables = []
    for listed in location.list_files(folder, include_hidden=True):
        if not listed.path.endswith(".parquet"):
            continue
        try:
            tables.append(pq.read_table(pa.BufferReader(location.read_bytes(listed.path)), use_threads=False))
        except Exception as error:  # noqa: BLE001 - a bad part costs its rows, not the run
            logger.warning("skipping embedding cache part %s: %s", listed.path, error)
    tables = [table for table in tables if table.num_rows]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def clear_cache(location: Location, folder: str) -> int:
    """Delete every part of the cache folder; returns how many."""
    paths = [listed.path for listed in location.list_files(folder, include_hidden=True)]
    for path in paths:
        location.delete(path)
    return len(paths)


def resume_from_cache(listing: pa.Table, cached: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """Split a listing into the files to process and the cached rows that stand for the others.

    A file is covered when the cache holds its rows for its current size and modification
    time: its one row for an image, a row for every frame of a video.

    Returns:
        (the listing without the covered files, the rows of the covered files or None).
    """
    current = file_keys(listing, "name")
    latest: dict[str, int] = {}
    frames: dict[str, set[int]] = {}
    totals: dict[str, int] = {}
    columns = (cached.column(name).to_pylist() for name in ("name", "file", "size", "mtime_ns"))
    for row, (name, file, size, mtime) in enumerate(zip(*columns, strict=True)):
        if current.get(file) != (size, mtime):
            continue
        latest[name] = row
    indexes = cached.column("frame_index").to_pylist()
    video_frames = cached.column("video_frames").to_pylist()
    files = cached.column("file").to_pylist()
    for row in latest.values():
        frames.setdefault(files[row], set()).add(indexes[row])
        totals[files[row]] = video_frames[row]
    covered = {file for file, seen in frames.items() if totals[file] == 0 or len(seen) == totals[file]}
    if not covered:
        return listing, None
    rows = sorted(row for row in latest.values() if files[row] in covered)
    remaining = listing.filter(
        pc.invert(pc.is_in(listing.column("name"), value_set=pa.array(sorted(covered), pa.string())))
    )
    return remaining, cached.take(pa.array(rows, pa.int64()))
