"""A run's samples as Arrow tables for its dataset, and such tables back as gather batches.

The processed table has one row per sample a run processed, keyed by `name`, with the file it
came from (`file`: the image, or a frame's video), that file's `size` and `mtime_ns` from the
listing, and every column the gather step reads (`pipeline/gather.py`): a later run rebuilds
the same gathered samples from it without reading or embedding anything again.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.pipeline.gather import FRAME_COLUMNS, GATHERED_COLUMNS, METADATA_COLUMNS, GatheredSamples

Batch = dict[str, np.ndarray]

FILE_SCHEMA = pa.schema([("file", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64())])


def processed_table(gathered: GatheredSamples, listing: pa.Table, run_id: str) -> pa.Table:
    """Every gathered sample with its file, the file's size and mtime, and the run's id.

    Args:
        gathered: The run's samples (decoded and embedded; `sizes` and `frames` filled).
        listing: The run's listing (name, size, mtime_ns), covering every sample's file.
        run_id: The run that processed them.
    """
    count = len(gathered.names)
    videos = gathered.frames["video"].astype(str) if gathered.frames else np.full(count, "")
    files = np.where(videos != "", videos, gathered.names.astype(str))
    mtime_of = dict(
        zip(listing.column("name").to_pylist(), listing.column("mtime_ns").to_pylist(), strict=True)
    )
    mtimes = np.fromiter((mtime_of.get(file) or 0 for file in files), dtype=np.int64, count=count)
    vectors = np.ascontiguousarray(gathered.embeddings, dtype=np.float32)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    columns: dict[str, pa.Array] = {
        "name": pa.array(gathered.names.astype(str), pa.string()),
        "file": pa.array(files, pa.string()),
        "size": pa.array(_or_zeros(gathered.sizes, count, np.int64)),
        "mtime_ns": pa.array(mtimes),
        "ok": pa.array(gathered.errors.astype(str) == ""),
        "error": pa.array(gathered.errors.astype(str), pa.string()),
        "content_hash": pa.array(_or_empty(gathered.content_hashes, count), pa.string()),
        "embedding": embedding,
    }
    for column in METADATA_COLUMNS:
        name = column.removeprefix("lightly_")
        columns[column] = pa.array(_or_zeros(gathered.lightly_metadata.get(name), count, np.float64))
    frame_defaults = {"video": "", "frame_index": -1, "frame_pts": 0, "frame_seconds": 0.0}
    for column in FRAME_COLUMNS:
        values = gathered.frames.get(column)
        columns[column] = pa.array(values if values is not None else np.full(count, frame_defaults[column]))
    columns["run_id"] = pa.array([run_id] * count, pa.string())
    return pa.table(columns)


def rows_named(table: pa.Table, names: list[str]) -> pa.Table:
    """The rows of a table whose `name` is one of `names`, in the table's order."""
    return table.filter(pc.is_in(table.column("name"), value_set=pa.array(names, pa.string())))


def files_table(listing: pa.Table) -> pa.Table:
    """The files of a listing as the dataset records them: file, size, mtime_ns."""
    return pa.table(
        {
            "file": listing.column("name").cast(pa.string()),
            "size": listing.column("size").cast(pa.int64()),
            "mtime_ns": listing.column("mtime_ns").fill_null(0).cast(pa.int64()),
        },
        schema=FILE_SCHEMA,
    )


def as_batch(table: pa.Table) -> Batch:
    """Processed rows as one batch of the gather step's columns (embedding as a 2-D array)."""
    batch: Batch = {}
    for column in GATHERED_COLUMNS:
        if column == "embedding":
            batch[column] = embedding_matrix(table)
        else:
            batch[column] = table.column(column).to_numpy(zero_copy_only=False)
    return batch


def embedding_matrix(table: pa.Table) -> np.ndarray:
    """The `embedding` column as an array of shape (rows, dim), float32."""
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size
    flat = column.flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(flat.reshape(len(column), dim), dtype=np.float32)


def _or_zeros(values: np.ndarray | None, count: int, dtype: type) -> np.ndarray:
    if values is None or len(values) != count:
        return np.zeros(count, dtype=dtype)
    return np.asarray(values, dtype=dtype)


def _or_empty(values: np.ndarray, count: int) -> np.ndarray:
    if len(values) != count:
        return np.full(count, "", dtype=object)
    return np.asarray(values, dtype=str)
