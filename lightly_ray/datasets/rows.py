"""A run's samples as Arrow tables for its dataset, and such tables back as gather batches.

The processed table has one row per sample a run processed, keyed by `name`, with the file it
came from (`file`: the image, or a frame's video), that file's `size` and `mtime_ns` from the
listing, and every column the gather step reads (`pipeline/gather.py`): a later run rebuilds
the same gathered samples from it without reading or embedding anything again.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.pipeline.batch import Batch
from lightly_ray.pipeline.chunked_take import take
from lightly_ray.pipeline.gather import (
    FRAME_COLUMNS,
    GATHERED_COLUMNS,
    METADATA_COLUMNS,
    GatheredSamples,
    cast_in_slices,
    vector_column,
)
from lightly_ray.pipeline.sorted_lookup import SortedStrings
from lightly_ray.pipeline.spilled_columns import drop_mapped_pages

FILE_SCHEMA = pa.schema([("file", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64())])


def processed_table(gathered: GatheredSamples, listing: pa.Table, run_id: str) -> pa.Table:
    """Every gathered sample with its file, the file's size and mtime, and the run's id.

    Args:
        gathered: The run's samples (decoded and embedded, or read from an embeddings CSV).
        listing: The run's listing (name, size, mtime_ns), covering every sample's file.
        run_id: The run that processed them.
    """
    return processed_rows(gathered, ListingIndex(listing), run_id, None)


class ListingIndex:
    """A listing with its names sorted once: the size and mtime of many files, looked up.

    Args:
        listing: The run's listing (name, size, mtime_ns).
    """

    def __init__(self, listing: pa.Table) -> None:
        self.listing = listing
        self.names = SortedStrings(listing.column("name"))
        drop_mapped_pages()  # a mapped listing's pages that sorting (or checking the order) read

    def size_and_mtime(self, files: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
        """Each file's size and mtime_ns from the listing; 0 for a file it does not list."""
        found = self.names.positions(files)
        listed = found >= 0
        at = np.where(listed, found, 0)

        def column(name: str) -> pa.Array:
            values = take(self.listing.column(name), at).fill_null(0).to_numpy(zero_copy_only=False)
            return pa.array(np.where(listed, values, 0), pa.int64())  # 0: not listed

        return column("size"), column("mtime_ns")


# Rows spread this thinly (more than SPREAD_ROWS rows of the samples a looked-up row) are looked
# up SPREAD_GROUP at a time, the pages of the mapped listing and hashes dropped between groups:
# a file's pages come in 2 MB at a time, so 1,000 selected samples spread over 2M read nearly
# every page of both files at once (+211 MB at 2M); a group of neighbours reads a few of them.
SPREAD_ROWS = 64
SPREAD_GROUP = 64


def processed_rows(
    gathered: GatheredSamples, listing: ListingIndex, run_id: str, rows: np.ndarray | None
) -> pa.Table:
    """The processed rows (`processed_table`) of the samples at `rows`, in that order.

    Args:
        gathered: The run's samples.
        listing: Its listing, indexed.
        run_id: The run that processed them.
        rows: Indices into `gathered.names`; None for every sample (the table then shares the
            gathered embeddings, hashes and metadata instead of copying them).
    """
    if rows is not None and len(rows) > SPREAD_GROUP and _spread(rows):
        groups = [rows[start : start + SPREAD_GROUP] for start in range(0, len(rows), SPREAD_GROUP)]
        return pa.concat_tables([_processed_rows(gathered, listing, run_id, group) for group in groups])
    return _processed_rows(gathered, listing, run_id, rows)


def _spread(rows: np.ndarray) -> bool:
    """Whether `rows` lie far apart on average (more than SPREAD_ROWS samples a row)."""
    return bool(int(rows.max()) - int(rows.min()) > SPREAD_ROWS * len(rows))


def _processed_rows(
    gathered: GatheredSamples, listing: ListingIndex, run_id: str, rows: np.ndarray | None
) -> pa.Table:
    """`processed_rows` of `rows` in one pass over the mapped columns, its pages dropped after."""
    every = len(gathered.names)
    count = every if rows is None else len(rows)

    def pick(values: np.ndarray | None) -> np.ndarray | None:
        if values is None or len(values) != every:
            return None
        return values if rows is None else values[rows]

    names = (gathered.names if rows is None else gathered.names.at_rows(rows)).arrow
    files = _files(names, pick(gathered.frames.get("video")))
    size, mtime = listing.size_and_mtime(files)
    errors = gathered.errors if rows is None else gathered.errors[rows]
    hashes = gathered.content_hashes
    columns: dict[str, np.ndarray | pa.Array | pa.ChunkedArray] = {
        "name": names,
        "file": files,
        "size": size,
        "mtime_ns": mtime,
        "ok": errors == "",
        "error": errors,
        "content_hash": (hashes if rows is None else take(hashes, rows))
        if len(hashes) == every
        else pa.repeat(pa.scalar("", pa.string()), count),
        "embedding": gathered.embedding_column()
        if rows is None
        else vector_column(gathered.embeddings_of(rows).reshape(count, gathered.dim)),
    }
    for column in METADATA_COLUMNS:
        values = pick(gathered.lightly_metadata.get(column.removeprefix("lightly_")))
        columns[column] = _or_zeros(values, count, np.float64)
    for column in FRAME_COLUMNS:
        frame_values = pick(gathered.frames.get(column))
        if frame_values is not None:
            columns[column] = frame_values
    table = _table(columns, run_id)
    drop_mapped_pages()  # the pages of the mapped listing and hashes these rows were read from
    return table


def processed_slices(
    gathered: GatheredSamples, listing: ListingIndex, run_id: str, rows: np.ndarray, rows_per_slice: int
) -> Iterator[pa.Table]:
    """`processed_rows` of `rows` a slice at a time (one empty table when there are none).

    What a run publishes is written this way: the processed rows of every sample as one table
    hold the names as Arrow strings, the listing's columns and the frame columns whole beside
    the matrix (about 230 MB at 2M samples).
    """
    for start in range(0, max(len(rows), 1), rows_per_slice):
        yield processed_rows(gathered, listing, run_id, rows[start : start + rows_per_slice])


def processed_here_rows(gathered: GatheredSamples, reused: pa.Table | None) -> np.ndarray:
    """Rows of the samples a run processed itself: every gathered sample but those it reused.

    Args:
        gathered: The run's samples, processed here or reused from the dataset.
        reused: The dataset's rows the run reused (a `name` column), or None.
    """
    every = np.arange(len(gathered.names))
    if reused is None or not reused.num_rows:
        return every
    index = SortedStrings(reused.column("name"))
    fresh = np.ones(len(every), dtype=bool)
    for start in range(0, len(every), LOOKUP_SLICE):
        names = gathered.names[start : start + LOOKUP_SLICE].arrow
        fresh[start : start + LOOKUP_SLICE] = index.positions(names) < 0
    return every[fresh]


def rows_named_in(gathered: GatheredSamples, names: list[str]) -> np.ndarray:
    """Rows of the gathered samples named in `names`, ascending (names it does not hold are left out)."""
    if not names or not len(gathered.names):
        return np.zeros(0, dtype=np.int64)
    found = gathered.names.rows_of(names)
    return np.unique(found[found >= 0]).astype(np.int64)


# Gathered names looked up per slice in `processed_here_rows`.
LOOKUP_SLICE = 1 << 16


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
