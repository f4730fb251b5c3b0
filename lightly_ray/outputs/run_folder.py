"""The run folder: `.lightly/runs/<run id>/` in the lightly location, committed by `_SUCCESS`.

Every file is written atomically, and `_SUCCESS` is written last. A folder without `_SUCCESS`
is an unfinished (or crashed) run and is never reported as a finished one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterable
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from lightly_ray.storage import Location

RUNS_PREFIX = ".lightly/runs"
SUCCESS_MARKER = "_SUCCESS"


def new_run_id(now: dt.datetime | None = None) -> str:
    """A run id that sorts by start time and does not collide: `20261123-064012-3f9a1c`."""
    moment = now or dt.datetime.now(dt.UTC)
    return f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


# Rows per Parquet row group: the writer holds a whole group in memory, encoded and compressed
# (8 MB of 128-d embeddings here). Writing embeddings.parquet at 2M samples peaked 180 MB above
# the driver's floor with groups of 65,536 rows and 72 MB with 16,384 (bench/driver.py's data).
PARQUET_ROW_GROUP = 16_384


class RunFolder:
    """One run's folder in the lightly location.

    Args:
        location: The lightly location (read-write).
        run_id: The run's id (see `new_run_id`).
        relative: The folder's path in `location` when it is not `.lightly/runs/<run id>`
            (a finished run's folder copied elsewhere, read by `lightly-ray inspect`).

    """

    def __init__(self, location: Location, run_id: str, relative: str | None = None) -> None:
        self.location = location
        self.run_id = run_id
        self.relative = f"{RUNS_PREFIX}/{run_id}" if relative is None else relative

    @property
    def url(self) -> str:
        """Where the folder is, as the user named the lightly location."""
        return f"{self.location.url.rstrip('/')}/{self.relative}"

    def write_json(self, name: str, content: Any) -> None:
        """Write `content` as indented JSON to `name` inside the folder."""
        text = json.dumps(content, indent=2, sort_keys=False, default=str)
        self.write_text(name, text + "\n")

    def write_text(self, name: str, text: str) -> None:
        """Write a UTF-8 text file inside the folder."""
        self.write_bytes(name, text.encode("utf-8"))

    def write_text_best_effort(self, name: str, text: str) -> None:
        """Write a text file if the location takes it (a run that failed keeps its log this way)."""
        try:
            self.write_text(name, text)
        except Exception:
            logging.getLogger(__name__).debug("could not write %s", name, exc_info=True)

    def write_lines(self, name: str, lines: Iterable[str]) -> None:
        """Write one entry per line (a trailing newline after each)."""
        self.write_text(name, "".join(f"{line}\n" for line in lines))

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a binary file inside the folder."""
        self.location.write_bytes(f"{self.relative}/{name}", data)

    def write_parquet(self, name: str, table: pa.Table) -> None:
        """Write an Arrow table as one Parquet file."""
        self.write_parquet_parts(name, [table])

    def write_parquet_parts(self, name: str, tables: Iterable[pa.Table]) -> None:
        """Write Arrow tables of one schema, made one at a time, as one Parquet file.

        Raises:
            ValueError: When `tables` is empty (a Parquet file needs a schema).
        """
        with self.location.open_atomic_output(f"{self.relative}/{name}") as stream:
            write_parquet_tables(stream, tables, name)

    def commit(self, summary: dict[str, Any]) -> None:
        """Mark the run finished. Call after every other file of the run is written."""
        self.write_json(SUCCESS_MARKER, summary)

    def is_finished(self) -> bool:
        """Whether the run was committed."""
        return self.location.exists(f"{self.relative}/{SUCCESS_MARKER}")


def write_parquet_tables(stream: IO[bytes], tables: Iterable[pa.Table], name: str) -> None:
    """Write tables of one schema to `stream` as one Parquet file, each as it comes.

    Only string columns are dictionary-encoded: for the embeddings and the float metadata a
    dictionary never pays (Parquet gives it up after a page) but its hash table is built for
    every row group: writing one group of 65,536 128-d embeddings took 36 MB more and half
    again as much time with it (measured alone; the driver bench's peak does not move).

    Raises:
        ValueError: When `tables` is empty (a Parquet file needs a schema); `name` says which.
    """
    writer: pq.ParquetWriter | None = None
    for table in tables:
        if writer is None:
            strings = [
                field.name
                for field in table.schema
                if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
            ]
            writer = pq.ParquetWriter(stream, table.schema, use_dictionary=strings)
        writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
    if writer is None:
        raise ValueError(f"{name}: no table to write")
    writer.close()


def finished_run_ids(location: Location) -> list[str]:
    """Ids of the committed runs in a lightly location, oldest first."""
    runs = set()
    for listed in _list_runs(location):
        parts = listed.split("/")
        if len(parts) == 2 and parts[1] == SUCCESS_MARKER:
            runs.add(parts[0])
    return sorted(runs)


def _list_runs(location: Location) -> Iterable[str]:
    # list_files skips hidden paths, so list below the hidden runs folder itself.
    prefix = RUNS_PREFIX
    for listed in location.list_files(prefix, include_hidden=True):
        yield listed.path[len(prefix) + 1 :]
