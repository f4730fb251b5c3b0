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

from lightly_ray.datasets.sorted_lookup import positions_in
from lightly_ray.pipeline.gather import (
    FRAME_COLUMNS,
    GATHERED_COLUMNS,
    METADATA_COLUMNS,
    GatheredSamples,
    cast_in_slices,
    vector_column,
)

Batch = dict[str, np.ndarray]

FILE_SCHEMA = pa.schema([("file", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64())])


def processed_table(gathered: GatheredSamples, listing: pa.Table, run_id: str) -> pa.Table:
    """Every gathered sample with its file, the file's size and mtime, and the run's id.

    Args:
        gathered: The run's samples (decoded and embedded, or read from an embeddings CSV).
        listing: The run's listing (name, size, mtime_ns), covering every sample's file.
        run_id: The run that processed them.
    """
    count = len(gathered.names)
    names = pa.array(gathered.names, pa.string())
    files = _files(names, gathered.frames.get("video"))
    found = positions_in(files, listing.column("name"))
    at = pa.array(found, mask=found < 0)  # null: not listed
    columns: dict[str, np.ndarray | pa.Array | pa.ChunkedArray] = {
        "name": names,
        "file": files,
        "size": pc.fill_null(pc.take(listing.column("size"), at), 0),
        "mtime_ns": pc.fill_null(pc.take(listing.column("mtime_ns"), at), 0),
        "ok": gathered.errors == "",
        "error": gathered.errors,
        "content_hash": gathered.content_hashes
        if len(gathered.content_hashes) == count
        else pa.repeat(pa.scalar("", pa.string()), count),
        "embedding": gathered.embedding_column(),
    }
    for column in METADATA_COLUMNS:
        columns[column] = _or_zeros(
            gathered.lightly_metadata.get(column.removeprefix("lightly_")), count, np.float64
        )
    for column in FRAME_COLUMNS:
        if column in gathered.frames:
            columns[column] = gathered.frames[column]
    return _table(columns, run_id)


def batch_rows(batch: Batch, run_id: str) -> pa.Table:
    """Embedded rows of the pipeline (`decode_units.SAMPLE_COLUMNS` and `embedding`) as processed rows."""
    return _table({column: np.asarray(values) for column, values in batch.items()}, run_id)


def _table(columns: dict[str, np.ndarray | pa.Array | pa.ChunkedArray], run_id: str) -> pa.Table:
    """The processed-rows table, columns in PROCESSED_COLUMNS order, defaults for missing ones.

    `name`, `file` and `embedding` may come as Arrow columns already (no copy is made of them);
    numpy `embedding` is a (rows, dim) matrix or a column of row arrays.
    """
    count = len(columns["name"])
    result: dict[str, pa.Array | pa.ChunkedArray] = {"name": _strings(columns["name"])}
    result["file"] = (
        _strings(columns["file"]) if "file" in columns else _files(result["name"], columns.get("video"))
    )
    embedding = columns["embedding"]
    if not isinstance(embedding, pa.Array | pa.ChunkedArray):
        vectors = np.ascontiguousarray(embedding, dtype=np.float32)
        if vectors.ndim != 2:  # a column of row arrays
            vectors = np.stack(list(vectors)).astype(np.float32) if count else vectors.reshape(0, 0)
        embedding = vector_column(vectors)
    result["embedding"] = embedding
    result["run_id"] = pa.repeat(pa.scalar(run_id, pa.string()), count)
    for column, (kind, default) in _COLUMN_TYPES.items():
        values = columns.get(column)
        if values is None:
            result[column] = pa.repeat(pa.scalar(default, kind), count)
        else:
            result[column] = (
                cast_in_slices(values, kind)
                if isinstance(values, pa.Array | pa.ChunkedArray)
                else pa.array(values, kind)
            )
    return pa.table({column: result[column] for column in PROCESSED_COLUMNS})


def _strings(values: np.ndarray | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A string column as Arrow (as it is when it is Arrow already)."""
    return values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, pa.string())


def _files(
    names: pa.Array | pa.ChunkedArray, videos: np.ndarray | pa.Array | pa.ChunkedArray | None
) -> pa.Array | pa.ChunkedArray:
    """Each sample's file: a frame's video, else the sample itself."""
    if videos is None:
        return names
    video = _strings(videos)
    is_frame = pc.not_equal(video, "")
    if not pc.any(is_frame).as_py():  # no frames: the names themselves, not a copy
        return names
    return pc.if_else(is_frame, video, names)


_COLUMN_TYPES: dict[str, tuple[pa.DataType, object]] = {
    "size": (pa.int64(), 0),
    "mtime_ns": (pa.int64(), 0),
    "ok": (pa.bool_(), True),
    "error": (pa.string(), ""),
    "content_hash": (pa.string(), ""),
    **{column: (pa.float64(), 0.0) for column in METADATA_COLUMNS},
    "video": (pa.string(), ""),
    "frame_index": (pa.int64(), -1),
    "frame_pts": (pa.int64(), 0),
    "frame_seconds": (pa.float64(), 0.0),
    "video_frames": (pa.int64(), 0),
}
PROCESSED_COLUMNS = ("name", "file", "embedding", *_COLUMN_TYPES, "run_id")


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
        elif column in table.column_names:
            batch[column] = table.column(column).to_numpy(zero_copy_only=False)
        else:
            kind, default = _COLUMN_TYPES[column]
            batch[column] = np.full(table.num_rows, default, dtype=kind.to_pandas_dtype())
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
