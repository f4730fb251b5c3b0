"""Gather: collect the embedded rows on the driver and sort out corrupt files and duplicates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES
from lightly_ray.formats.pretag_schema import PRETAG_COLUMNS
from lightly_ray.pipeline.crops import BOX_INDEX, CATEGORY, CROP_COLUMNS, PARENT
from lightly_ray.pipeline.decode import METADATA_COLUMN_PREFIX

Batch = dict[str, np.ndarray]

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
        names: All processed file names, sorted.
        errors: Per file, why it is corrupt ("" when it decoded).
        candidate: Mask of files that enter selection (decoded and not a duplicate).
        duplicate_of: Per file, the name of the earlier file with identical bytes, or "".
        embeddings: Array of shape (n_files, dim); rows of corrupt files are zero.
        lightly_metadata: Lightly metadata by name (sharpness, ...), arrays of shape (n_files,);
            empty when the files were not decoded (precomputed embeddings).
        frames: `video` (the video of each sample, "" for an image), `frame_index` (-1 for an
            image), `frame_pts` and `frame_seconds`, arrays of shape (n_files,); empty when the
            samples were not decoded.
        sizes: Byte size of each sample's file (its video's for a frame); empty when the
            samples were not decoded.
        mtimes: Modification time of each sample's file, ns (0 when the store reports none);
            empty when the samples were not decoded.
        content_hashes: Hash of each image file's bytes ("" for frames and unread files); empty
            when the samples were not decoded.
        detections: The samples' `width` and `height`, with pretagging `pretag.PRETAG_COLUMNS`
            and with object level `crops.CROP_COLUMNS`, rows as `names`, where the pipeline made
            them: `pretag_count` is -1 for samples this run did not detect in (reused
            embeddings, corrupt files), `parent` is "" for a sample that is not a crop.

    """

    names: np.ndarray
    errors: np.ndarray
    candidate: np.ndarray
    duplicate_of: np.ndarray
    embeddings: np.ndarray
    lightly_metadata: dict[str, np.ndarray] = field(default_factory=dict)
    frames: dict[str, np.ndarray] = field(default_factory=dict)
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mtimes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    content_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    detections: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def empty(cls, dim: int) -> GatheredSamples:
        """No samples (a datapool run with nothing new), embeddings of width `dim`."""
        nothing = np.zeros(0, dtype=object)
        return cls(
            names=nothing,
            errors=nothing,
            candidate=np.zeros(0, dtype=bool),
            duplicate_of=nothing,
            embeddings=np.zeros((0, dim), dtype=np.float32),
        )

    def subset(self, mask: np.ndarray) -> GatheredSamples:
        """The samples where `mask` is true, in the same order (object level: images or crops)."""

        def part(values: np.ndarray) -> np.ndarray:
            return values[mask] if len(values) == len(mask) else values

        return GatheredSamples(
            names=self.names[mask],
            errors=self.errors[mask],
            candidate=self.candidate[mask].copy(),
            duplicate_of=self.duplicate_of[mask],
            embeddings=self.embeddings[mask],
            lightly_metadata={name: values[mask] for name, values in self.lightly_metadata.items()},
            frames={name: values[mask] for name, values in self.frames.items()},
            sizes=part(self.sizes),
            mtimes=part(self.mtimes),
            content_hashes=part(self.content_hashes),
            detections={name: values[mask] for name, values in self.detections.items()},
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
        return [str(name) for name in self.names[self.candidate]]

    def candidate_embeddings(self) -> np.ndarray:
        """Embeddings of the candidates, shape (n_candidates, dim), float32."""
        return np.ascontiguousarray(self.embeddings[self.candidate], dtype=np.float32)

    def candidate_lightly_metadata(self) -> dict[str, np.ndarray]:
        """Lightly metadata of the candidates, by name."""
        return {name: values[self.candidate] for name, values in self.lightly_metadata.items()}

    def embeddings_table(self) -> pa.Table:
        """The candidates as an Arrow table: name (string), embedding (fixed-size list of float32)."""
        vectors = self.candidate_embeddings()
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
        return pa.table({"name": pa.array(self.candidate_names(), pa.string()), "embedding": column})


def gather_batches(batches: Iterable[Batch], *, remove_exact_duplicates: bool) -> GatheredSamples:
    """Concatenate embedded batches, sort them by name and mark duplicates.

    Args:
        batches: Batches with the columns of GATHERED_COLUMNS, in any order.
        remove_exact_duplicates: Keep only the first name of each group of files with identical
            bytes; the others are marked with the name they duplicate.

    Returns:
        The gathered samples.

    """
    parts: dict[str, list[np.ndarray]] = {column: [] for column in GATHERED_COLUMNS}
    optional: dict[str, list[np.ndarray | None]] = {column: [] for column in OPTIONAL_COLUMNS}
    for batch in batches:
        for column in GATHERED_COLUMNS:
            parts[column].append(np.asarray(batch[column]))
        for column in OPTIONAL_COLUMNS:
            optional[column].append(np.asarray(batch[column]) if column in batch else None)
    if not parts["name"]:
        raise ValueError("no rows were processed")
    columns = {column: np.concatenate(values) for column, values in parts.items()}
    sizes = [len(names) for names in parts["name"]]
    order = np.argsort(columns["name"].astype(str), kind="stable")
    names = columns["name"][order].astype(str)
    errors = columns["error"][order].astype(str)
    hashes = columns["content_hash"][order].astype(str)
    ok = columns["ok"][order].astype(bool)
    duplicate_of = np.full(len(names), "", dtype=object)
    if remove_exact_duplicates:
        first_with_hash: dict[str, str] = {}
        for index in np.flatnonzero(ok & (hashes != "")):  # frames carry no hash
            first = first_with_hash.setdefault(hashes[index], names[index])
            if first != names[index]:
                duplicate_of[index] = first
    return GatheredSamples(
        names=names,
        errors=errors,
        candidate=ok & (duplicate_of == ""),
        duplicate_of=duplicate_of,
        embeddings=_as_matrix(columns["embedding"][order]),
        lightly_metadata={
            name: columns[f"{METADATA_COLUMN_PREFIX}{name}"][order].astype(np.float64)
            for name in LIGHTLY_METADATA_NAMES
        },
        frames={column: columns[column][order] for column in FRAME_COLUMNS},
        sizes=columns["size"][order].astype(np.int64),
        mtimes=columns["mtime_ns"][order].astype(np.int64),
        content_hashes=hashes.astype(object),
        detections={column: values[order] for column, values in _optional_columns(optional, sizes).items()},
    )


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
