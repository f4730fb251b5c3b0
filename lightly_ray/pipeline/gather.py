"""Gather: collect the embedded rows on the driver and sort out corrupt files and duplicates.

The embedding matrix is the largest thing a run's driver handles (5.1 GB at 10M x 128 float32),
so it is never whole in the driver's memory: blocks are written to a file on the local disk as
they arrive, and the rows that have an embedding of their own (a corrupt file has none; an
exact duplicate shares its original's row) are written in name order to a second file, which
the run maps (`matrix_file`). Names are Arrow strings from the first
block on (`sample_names.SampleNames`: half the memory of Python strings in an object array).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES
from lightly_ray.formats.pretag_schema import PRETAG_COLUMNS
from lightly_ray.mapped_pages import take_rows
from lightly_ray.pipeline.batch import Batch
from lightly_ray.pipeline.chunked_take import take_in_slices
from lightly_ray.pipeline.crops import BOX_INDEX, CATEGORY, CROP_COLUMNS, PARENT
from lightly_ray.pipeline.decode import METADATA_COLUMN_PREFIX
from lightly_ray.pipeline.exact_duplicates import first_with_same_hash
from lightly_ray.pipeline.matrix_file import MatrixFile, rows_in_file
from lightly_ray.pipeline.row_moves import ColumnBuffer, release_free_memory
from lightly_ray.pipeline.spilled_columns import ScratchFolder, SpilledColumns, columns_at, mapped_table
from lightly_ray.sample_names import CHUNK_ROWS, SampleNames

METADATA_COLUMNS = tuple(f"{METADATA_COLUMN_PREFIX}{name}" for name in LIGHTLY_METADATA_NAMES)
FRAME_COLUMNS = ("video", "frame_index", "frame_pts", "frame_seconds", "video_frames")
GATHERED_COLUMNS = (
    "name",
    "size",
    "mtime_ns",
    "ok",
    "error",
    "content_hash",
    "embedding",
    *METADATA_COLUMNS,
    *FRAME_COLUMNS,
)
# Gathered when some batch has them (pretagging); rows of batches without them (embeddings
# reused from an earlier run) get no detections (count -1) and no size.
OPTIONAL_COLUMNS = ("width", "height", *PRETAG_COLUMNS, *CROP_COLUMNS)
_FILLS: dict[str, object] = {"pretag_count": -1, "pretag_labels": -1, PARENT: "", BOX_INDEX: -1, CATEGORY: -1}


@dataclass
class GatheredSamples:
    """Every processed file of a run, sorted by name, split into candidates and the rest.

    Attributes:
        names: All processed file names, sorted (Arrow strings, read as a sequence of str).
        errors: Per file, why it is corrupt ("" when it decoded).
        candidate: Mask of files that enter selection (decoded and not a duplicate).
        duplicate_of: Per file, the name of the earlier file with identical bytes, or "".
        vectors: The distinct embeddings, shape (n_vectors, dim), float32, mapped from a file
            on the driver's disk when gathered (`matrix_file`); `vector_row` says whose is
            whose. Use `embeddings_of` and `candidate_embeddings` to read them.
        vector_row: Per file, its row in `vectors`: -1 for a corrupt file (its embedding is
            zero), the original's row for an exact duplicate (identical bytes).
        lightly_metadata: Lightly metadata by name (sharpness, ...), arrays of shape (n_files,);
            empty when the files were not decoded (precomputed embeddings).
        frames: `video` (the video of each sample, "" for an image), `frame_index` (-1 for an
            image), `frame_pts` and `frame_seconds`, arrays of shape (n_files,); empty when the
            samples were not decoded. A column with one value in every row (all of them in a
            run without videos) is a read-only view of that value.
        content_hashes: Hash of each image file's bytes ("" for frames and unread files), an
            Arrow string column (a third of the memory of Python strings) in chunks of at most
            HASH_TAKE_ROWS; empty when the samples were not decoded.
        detections: The samples' `width` and `height`, with pretagging `pretag.PRETAG_COLUMNS`
            and with object level `crops.CROP_COLUMNS`, rows as `names`, where the pipeline made
            them: `pretag_count` is -1 for samples this run did not detect in (reused
            embeddings, corrupt files), `parent` is "" for a sample that is not a crop.

    """

    names: SampleNames
    errors: np.ndarray
    candidate: np.ndarray
    duplicate_of: np.ndarray
    vectors: np.ndarray
    vector_row: np.ndarray
    lightly_metadata: MutableMapping[str, np.ndarray] = field(default_factory=dict)
    frames: MutableMapping[str, np.ndarray] = field(default_factory=dict)
    content_hashes: pa.ChunkedArray = field(default_factory=lambda: pa.chunked_array([], pa.string()))
    detections: MutableMapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of_matrix(cls, names: Sequence[str] | pa.Array, embeddings: np.ndarray) -> GatheredSamples:
        """Samples that all decoded, each with its own row of `embeddings` (e.g. an embeddings CSV)."""
        count = len(names)
        return cls(
            names=SampleNames(names),
            errors=np.full(count, "", dtype=object),
            candidate=np.ones(count, dtype=bool),
            duplicate_of=np.full(count, "", dtype=object),
            vectors=np.ascontiguousarray(embeddings, dtype=np.float32),
            vector_row=np.arange(count, dtype=np.int64),
        )

    @classmethod
    def empty(cls, dim: int) -> GatheredSamples:
        """No samples (a datapool run with nothing new), embeddings of width `dim`."""
        return cls.of_matrix([], np.zeros((0, dim), dtype=np.float32))

    @property
    def dim(self) -> int:
        """The embeddings' width."""
        return int(self.vectors.shape[1])

    @property
    def embeddings(self) -> np.ndarray:
        """Every file's embedding, shape (n_files, dim): a new array (zero rows for corrupt files)."""
        return self.embeddings_of(np.arange(len(self.names)))

    def embeddings_of(self, rows: np.ndarray) -> np.ndarray:
        """The embeddings of the files at `rows` (indices into `names`), a new (len(rows), dim) array."""
        which = self.vector_row[rows]
        if len(which) and (which >= 0).all():
            return take_rows(self.vectors, which)  # a mapped matrix's pages are not kept
        result = np.zeros((len(which), self.dim), dtype=np.float32)
        has = which >= 0
        result[has] = take_rows(self.vectors, which[has])
        return result

    def subset(self, mask: np.ndarray) -> GatheredSamples:
        """The samples where `mask` is true, in the same order (object level: images or crops)."""
        which = self.vector_row[mask]
        used = np.unique(which[which >= 0])
        return GatheredSamples(
            names=self.names[mask],
            errors=self.errors[mask],
            candidate=self.candidate[mask].copy(),
            duplicate_of=self.duplicate_of[mask],
            vectors=rows_in_file(self.vectors, used),
            vector_row=np.where(which >= 0, np.searchsorted(used, which), -1),
            lightly_metadata=columns_at(self.lightly_metadata, mask),
            frames=columns_at(self.frames, mask),
            content_hashes=self.content_hashes.filter(pa.array(mask))
            if len(self.content_hashes) == len(mask)
            else self.content_hashes,
            detections=columns_at(self.detections, mask),
        )

    def candidate_frames(self) -> dict[str, np.ndarray]:
        """The frame columns (video, frame_index, frame_pts, frame_seconds) of the candidates."""
        return {column: values[self.candidate] for column, values in self.frames.items()}

    def candidate_videos(self) -> list[str | None]:
        """Per candidate, its video's name when it is a frame, else None."""
        videos = self.frames.get("video")
        if videos is None:
            return [None] * int(self.candidate.sum())
        return [str(video) or None for video in videos[self.candidate]]

    @property
    def corrupt(self) -> np.ndarray:
        """Mask of files that could not be read or decoded."""
        mask: np.ndarray = self.errors != ""
        return mask

    def candidate_names(self) -> list[str]:
        """Names of the candidates, sorted."""
        return self.names[self.candidate].tolist()

    def candidate_embeddings(self) -> np.ndarray:
        """Embeddings of the candidates, shape (n_candidates, dim), float32.

        When the candidates are exactly the files with an embedding of their own (no datapool
        restriction), this is `vectors` itself, not a copy: do not write to it.
        """
        which = self.vector_row[self.candidate]
        if len(which) == len(self.vectors) and _is_identity(which):
            return self.vectors
        return self.embeddings_of(np.flatnonzero(self.candidate))

    def embeddings_tables(self, rows_per_table: int) -> Iterator[pa.Table]:
        """The candidates as Arrow tables of `rows_per_table` rows: name (string), embedding.

        One table at a time (at least one, empty when there are no candidates), so that writing
        them holds a slice of the names as Arrow strings, never all of them beside the matrix.
        """
        rows = np.flatnonzero(self.candidate)
        for start in range(0, max(len(rows), 1), rows_per_table):
            part = rows[start : start + rows_per_table]
            yield pa.table(
                {
                    "name": self.names.at_rows(part).arrow,
                    "embedding": vector_column(self.embeddings_of(part).reshape(len(part), self.dim)),
                }
            )

    def embedding_column(self) -> pa.ChunkedArray:
        """Every file's embedding as an Arrow column (fixed-size lists of float32), rows as `names`.

        Runs of files whose rows follow each other in `vectors` are zero-copy slices of it; only
        corrupt files, duplicates and their neighbours are copied, so the column costs a
        fraction of the matrix.
        """
        which = self.vector_row
        if _is_identity(which) and len(which) == len(self.vectors):
            return pa.chunked_array([vector_column(self.vectors)])
        chunks: list[pa.Array] = []
        copied_from = 0
        for start, stop in _contiguous_runs(which, MIN_SHARED_RUN):
            if copied_from < start:
                chunks.append(vector_column(self.embeddings_of(np.arange(copied_from, start))))
            chunks.append(vector_column(self.vectors[which[start] : which[start] + stop - start]))
            copied_from = stop
        if copied_from < len(which) or not chunks:
            chunks.append(vector_column(self.embeddings_of(np.arange(copied_from, len(which)))))
        return pa.chunked_array(chunks, type=pa.list_(pa.float32(), self.dim))


# Shorter runs of consecutive rows are copied with their neighbours rather than sliced: fewer chunks.
MIN_SHARED_RUN = 64


def vector_column(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """A (rows, dim) float32 matrix as an Arrow fixed-size-list column sharing its buffer."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.Array.from_buffers(pa.float32(), matrix.size, [None, pa.py_buffer(matrix)])
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def _is_identity(which: np.ndarray) -> bool:
    return bool(len(which) == 0 or (which[0] == 0 and (np.diff(which) == 1).all()))


def _contiguous_runs(which: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """[start, stop) runs of at least `min_length` rows with `which` counting up by one from >= 0."""
    if not len(which):
        return []
    follows = (np.diff(which) == 1) & (which[:-1] >= 0)  # a corrupt row (-1) ends a run
    breaks = np.flatnonzero(~follows) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(which)]])
    long = (stops - starts >= min_length) & (which[starts] >= 0)
    return list(zip(starts[long].tolist(), stops[long].tolist(), strict=True))


# Rows per slice when an Arrow column is cast to a type with 32-bit offsets (2 GiB a chunk at most).
CAST_ROWS = 1 << 22
# Sorted hashes taken from the blocks' hashes per slice of this many rows (a chunk each).
HASH_TAKE_ROWS = 1 << 16


def cast_in_slices(values: pa.Array | pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """`values` cast to `kind` in slices, so that 100M hashes fit `string`'s 32-bit offsets."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    return pa.chunked_array(
        [
            chunk.slice(start, CAST_ROWS).cast(kind)
            for chunk in chunks
            for start in range(0, len(chunk), CAST_ROWS)
        ],
        type=kind,
    )


# The gathered columns' types (embedding and content_hash are kept apart).
_COLUMN_DTYPES: dict[str, type] = {
    "ok": np.bool_,
    "error": object,
    **{column: np.float64 for column in METADATA_COLUMNS},
    "video": object,
    "frame_index": np.int64,
    "frame_pts": np.int64,
    "frame_seconds": np.float64,
    "video_frames": np.int64,
}


def gather_batches(
    batches: Iterable[Batch], *, remove_exact_duplicates: bool, expected_rows: int | None = None
) -> GatheredSamples:
    """Concatenate embedded batches, sort them by name and mark duplicates.

    Args:
        batches: Batches with the columns of GATHERED_COLUMNS, in any order.
        remove_exact_duplicates: Keep only the first name of each group of files with identical
            bytes; the others are marked with the name they duplicate.
        expected_rows: How many rows the batches hold, when known: the columns are reserved once
            (more rows still fit, by growing it).

    Returns:
        The gathered samples.

    """
    buffers = {column: ColumnBuffer(expected_rows, dtype) for column, dtype in _COLUMN_DTYPES.items()}
    optional: dict[str, list[np.ndarray | None]] = {column: [] for column in OPTIONAL_COLUMNS}
    folder = ScratchFolder()
    matrix = MatrixFile(folder)  # the rows go to its file as they come (matrix_file.py)
    name_parts: list[pa.Array] = []  # Arrow as they come: a block's Python strings go with it
    hash_parts: list[pa.Array] = []
    sizes: list[int] = []
    for batch in batches:
        for column, values in buffers.items():
            values.add(np.asarray(batch[column]))
        matrix.add(_as_matrix(np.asarray(batch["embedding"])))
        name_parts.append(pa.array(np.asarray(batch["name"], dtype=object), pa.string()))
        hash_parts.append(pa.array(np.asarray(batch["content_hash"], dtype=object), pa.string()))
        for column in OPTIONAL_COLUMNS:
            optional[column].append(np.asarray(batch[column]) if column in batch else None)
        sizes.append(len(batch["name"]))
    if not sizes:
        raise ValueError("no rows were processed")
    unsorted = pa.chunked_array(name_parts, pa.string())
    name_parts.clear()
    order = pc.sort_indices(unsorted).to_numpy()  # stable: byte order, which is code point order

    def sorted_column(name: str) -> np.ndarray:
        """A column in name order; its buffer goes (one column's copy at a time, none of one value)."""
        column = buffers.pop(name)
        values: np.ndarray = column.result() if column.is_constant else column.result()[order]
        return values

    # The columns that go to files first, each sorted, written and dropped in turn: their
    # buffers are gone before the names, the hashes and the matrix are put in name order.
    metadata = SpilledColumns({}, folder)
    for name in LIGHTLY_METADATA_NAMES:
        metadata.add(name, sorted_column(f"{METADATA_COLUMN_PREFIX}{name}"))
    frames = SpilledColumns({}, folder)
    for name in FRAME_COLUMNS:
        frames.add(name, sorted_column(name))  # one value in every row: a view (ColumnBuffer)
    detections = SpilledColumns({}, folder)
    for name, found in _optional_columns(optional, sizes).items():
        detections.add(name, found[order])
    del optional
    names = SampleNames(take_in_slices(unsorted, order, CHUNK_ROWS))
    del unsorted
    errors = sorted_column("error")
    ok = sorted_column("ok")
    parts = pa.chunked_array(hash_parts, pa.string())
    hash_parts.clear()
    # The blocks' hashes and the sorted ones, never a third (concatenated) copy between them.
    hashes = take_in_slices(parts, order, HASH_TAKE_ROWS)
    del parts
    first = first_with_same_hash(hashes, ok) if remove_exact_duplicates else np.arange(len(names))
    hashes = mapped_table(pa.table({"content_hash": hashes})).column(0)  # read again when writing
    duplicate = first != np.arange(len(names))
    duplicate_of = np.full(len(names), "", dtype=object)
    duplicate_of[duplicate] = names.take(first[duplicate]).to_numpy()
    own = ok & ~duplicate
    vector_row = np.where(own, np.cumsum(own) - 1, -1)
    vector_row[duplicate] = vector_row[first[duplicate]]
    gathered = GatheredSamples(
        names=names,
        errors=errors,
        candidate=own,
        duplicate_of=duplicate_of,
        vectors=matrix.rows_in_order(order[own]),
        vector_row=vector_row,
        lightly_metadata=metadata,
        frames=frames,
        content_hashes=hashes,
        detections=detections,
    )
    release_free_memory()
    return gathered


def _optional_columns(
    optional: dict[str, list[np.ndarray | None]], sizes: list[int]
) -> dict[str, np.ndarray]:
    """OPTIONAL_COLUMNS concatenated, where some batch has them; defaults fill the other batches."""
    found: dict[str, np.ndarray] = {}
    for column, values in optional.items():
        example = next((value for value in values if value is not None), None)
        if example is None:
            continue
        fill = _FILLS.get(column, 0)
        found[column] = np.concatenate(
            [
                value if value is not None else np.full((size, *example.shape[1:]), fill, dtype=example.dtype)
                for value, size in zip(values, sizes, strict=True)
            ]
        )
    return found


def _as_matrix(column: np.ndarray) -> np.ndarray:
    """A (rows, dim) float32 matrix from a tensor column (2-D, or 1-D of row arrays)."""
    if column.dtype == object:
        return np.stack(list(column)).astype(np.float32, copy=False)
    return column.astype(np.float32, copy=False)
