"""Which of a dataset's sample rows are current, and the samples with their current rows.

A run writes the samples it selected (`samples/<run>.parquet`) and never changes them. A later
run may process a sample's file again: the file was rewritten in the input (same name, other
size or modification time), or the embedding settings changed and the dataset's samples were
embedded again. That run's processed rows (`processed/<run>.parquet`) then hold the sample as
it is now, and the older samples row is stale. Readers take each sample's embedding and
metadata from the last run that processed its file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.datasets.store import Dataset, DatasetState

# Columns a later processing replaces; the rest (name, file, the run that selected the sample,
# what selection read about it) stay as the selecting run wrote them.
KEPT_COLUMNS = ("name", "file", "run_id")


def file_keys(table: pa.Table, column: str) -> dict[str, tuple[int, int]]:
    """By file (the `column` of a listing or files table): its size and mtime_ns (0 when unknown)."""
    rows = zip(
        table.column(column).to_pylist(),
        table.column("size").to_pylist(),
        table.column("mtime_ns").to_pylist(),
        strict=True,
    )
    return {str(file): (int(size), int(mtime or 0)) for file, size, mtime in rows}


def files_by_run(dataset: Dataset, state: DatasetState) -> list[pa.Table]:
    """Each published run's processed files (file, size, mtime_ns), oldest run first."""
    return [dataset.read_parquet(run.files_file) for run in state.runs]


def last_processed(files: Sequence[pa.Table]) -> dict[str, int]:
    """By input file, the index of the last run that processed it (`files`: `files_by_run`)."""
    last: dict[str, int] = {}
    for index, table in enumerate(files):
        for file in table.column("file").to_pylist():
            last[str(file)] = index
    return last


def preselected_samples(
    dataset: Dataset,
    state: DatasetState,
    embedding: dict[str, object],
    last: Mapping[str, int] | None = None,
    changed: Collection[str] = (),
) -> tuple[pa.Table | None, list[str], set[str]]:
    """The dataset's samples whose stored rows a run can use, and the names and files of the others.

    Args:
        dataset: The dataset.
        state: Its published state.
        embedding: The run's embedding settings.
        last: `last_processed`: a sample whose file a later run processed again is stale.
        changed: Files rewritten since they were processed (new to this run): stale too.

    Returns:
        (the usable rows or None, the names of the samples whose embedding must come from this
        run, their files).
    """
    tables, again, files, last = [], [], set(), last or {}
    for index, run in enumerate(state.runs):
        table = dataset.read_parquet(run.samples_file)
        stale = np.ones(table.num_rows, dtype=bool)
        if run.embedding == embedding:
            owners = table.column("file").to_pylist()
            stale = np.array(
                [file in changed or last.get(file, index) > index for file in owners], dtype=bool
            )
            tables.append(table.filter(pa.array(~stale)) if stale.any() else table)
        stale_rows = table.filter(pa.array(stale))
        again += [str(name) for name in stale_rows.column("name").to_pylist()]
        files |= {str(file) for file in stale_rows.column("file").to_pylist()}
    tables = [table for table in tables if table.num_rows]
    return (pa.concat_tables(tables) if tables else None), again, files


def current_samples(dataset: Dataset, state: DatasetState) -> pa.Table | None:
    """Every sample of the dataset with its embedding and metadata as last processed.

    Only the processed rows of runs that processed a sample's file after the sample was
    selected are read, and only when there are such runs.
    """
    table = dataset.read_table(state, "samples")
    if table is None:
        return None
    last = last_processed(files_by_run(dataset, state))
    selected_by = {run.run_id: index for index, run in enumerate(state.runs)}
    owners = zip(table.column("file").to_pylist(), table.column("run_id").to_pylist(), strict=True)
    later = np.array(
        [index if (index := last.get(file, -1)) > selected_by[run_id] else -1 for file, run_id in owners],
        dtype=np.int64,
    )
    names = table.column("name").to_pylist()
    replacements, where, offset = [], np.arange(table.num_rows, dtype=np.int64), table.num_rows
    for index in np.unique(later[later >= 0]).tolist():
        rows = np.flatnonzero(later == index).tolist()
        processed = dataset.read_parquet(state.runs[index].processed_file)
        wanted = pa.array([names[row] for row in rows], pa.string())
        processed = processed.filter(pc.is_in(processed.column("name"), value_set=wanted))
        position = {name: row for row, name in enumerate(processed.column("name").to_pylist())}
        found = [(row, position[names[row]]) for row in rows if names[row] in position]
        if found:
            replacements.append(processed.take(pa.array([source for _, source in found], pa.int64())))
            where[[row for row, _ in found]] = offset + np.arange(len(found))
            offset += len(found)
    if not replacements:
        return table
    columns = {}
    for column in table.column_names:
        if column in KEPT_COLUMNS or any(column not in part.column_names for part in replacements):
            columns[column] = table.column(column)
            continue
        kind = table.schema.field(column).type  # the samples' type (tables promoted when read)
        parts = [table.column(column), *(part.column(column).cast(kind) for part in replacements)]
        values = pa.chunked_array([chunk for part in parts for chunk in part.chunks], type=kind)
        columns[column] = values.take(pa.array(where))
    return pa.table(columns, schema=table.schema)
