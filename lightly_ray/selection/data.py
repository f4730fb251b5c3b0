"""The per-candidate data a selection's inputs are built from, and the error for bad inputs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np

from lightly_ray.formats.metadata import MetadataColumns
from lightly_ray.formats.predictions import TaskPredictions


class ColumnsAtRows(Mapping[str, np.ndarray]):
    """Columns read at some rows only when one is asked for, as float64: no copy is kept.

    The selection pool's Lightly metadata: nine float64 columns of every candidate are 72
    bytes a sample, which the driver would otherwise hold through selection while most
    configs read none of them. Each access takes the rows again (a few milliseconds a million)
    from the source mapping, so a column the gather step keeps in a file
    (`pipeline.spilled_columns`) is mapped only while it is read.

    Args:
        columns: The full columns by name (looked up at each access).
        names: The names offered; one that `columns` lacks reads as zeros.
        rows: The rows to read, int64.
    """

    def __init__(self, columns: Mapping[str, np.ndarray], names: Iterable[str], rows: np.ndarray) -> None:
        self._columns = columns
        self._names = list(names)
        self._rows = rows

    @property
    def row_count(self) -> int:
        """How many values each column has."""
        return len(self._rows)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        values = self._columns.get(name)
        if values is None:
            return np.zeros(len(self._rows), dtype=np.float64)
        return np.asarray(values[self._rows], dtype=np.float64)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def values_at_rows(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`values[rows]`; a read-only view of one value when `values` is one (a column of one value)."""
    if values.ndim == 1 and (len(values) == 1 or values.strides == (0,)):
        return np.broadcast_to(values[:1], (len(rows),))
    taken: np.ndarray = values[rows]
    return taken


class SampleVideos(Sequence[str | None]):
    """Per sample of the pool, its video, or None for an image: a view of the pool's video column.

    A list of every sample's video would be 8 bytes a sample even in a run without videos (80 MB
    at 10M); this reads the column, a view of one value in such runs, as it is asked.

    Args:
        column: The videos ("" for an image).
    """

    def __init__(self, column: np.ndarray) -> None:
        self._column = column

    def __len__(self) -> int:
        return len(self._column)

    @overload
    def __getitem__(self, index: int) -> str | None: ...

    @overload
    def __getitem__(self, index: slice) -> list[str | None]: ...

    def __getitem__(self, index: int | slice) -> str | list[str | None] | None:
        if isinstance(index, slice):
            return [str(video) or None for video in self._column[index].tolist()]
        return str(self._column[index]) or None


@dataclass(frozen=True)
class ObjectEmbeddings:
    """Embeddings of a detection task's objects (crops), for EMBEDDINGS with `task`.

    Attributes:
        embeddings: Array of shape (n_objects, dim), float32.
        candidate_index: Array of shape (n_objects,), int64: the candidate (image) of each object.
    """

    embeddings: np.ndarray
    candidate_index: np.ndarray


@dataclass
class SelectionData:
    """Everything known per candidate, ordered by candidate name.

    Attributes:
        names: Candidate names, sorted and unique; index i of every array is names[i]. A run
            passes `sample_names.SampleNames` (Arrow strings), tests and notebooks a list.
        embeddings: Array of shape (n, dim), float32, or None when no strategy uses them.
        object_embeddings: By task name.
        query_embeddings: By (dataset_id, tag_name): arrays of shape (n_queries, dim).
        predictions: By task name (including `lightly_pretagging` when run).
        metadata: Custom metadata columns, or None without a schema.
        lightly_metadata: Computed Lightly metadata by name (`sharpness`, ...): arrays of shape (n,).
        random_seed: Seed of RANDOM inputs without `random_seed`.
        preselected: Candidate indices selected by earlier runs, int64.
    """

    names: Sequence[str]
    embeddings: np.ndarray | None = None
    object_embeddings: dict[str, ObjectEmbeddings] = field(default_factory=dict)
    query_embeddings: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    predictions: dict[str, TaskPredictions] = field(default_factory=dict)
    metadata: MetadataColumns | None = None
    lightly_metadata: Mapping[str, np.ndarray] = field(default_factory=dict)
    random_seed: int = 0
    preselected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
