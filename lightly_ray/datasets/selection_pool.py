"""What selection sees in a run: its candidates and, with the datapool, the dataset's samples.

The pool is sorted by name and unique. A preselected sample (seed 004: it counts toward
`n_samples` and diversity keeps its distance to it) whose file this run processed again takes
its embedding from this run; one that only the dataset holds brings its stored row. The pool's
embeddings are one memory-mapped matrix written a part at a time, never a second copy of the
gathered matrix in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.datasets.datapool import DatapoolPlan
from lightly_ray.datasets.rows import embedding_matrix
from lightly_ray.pipeline.gather import METADATA_COLUMNS, GatheredSamples
from lightly_ray.pipeline.matrix_file import MatrixFile
from lightly_ray.pipeline.spilled_columns import ScratchFolder
from lightly_ray.sample_names import SampleNames
from lightly_ray.selection.data import ColumnsAtRows, SampleVideos, values_at_rows

# Rows of the gathered matrix copied to the pool's file at a time.
POOL_PART_ROWS = 1 << 16

logger = logging.getLogger("lightly_ray")


@dataclass
class SelectionPool:
    """What selection sees: this run's candidates and the dataset's samples, sorted by name.

    Attributes:
        names: Every sample, sorted and unique.
        embeddings: Shape (n, dim), float32. Without preselected samples this is the gathered
            `candidate_embeddings()`, which may share memory with the gathered samples.
        lightly_metadata: By name, shape (n,); read from the gathered columns when asked for.
        videos: Per sample, its video (None for an image).
        preselected: Indices of the dataset's samples.
        frame_indices: Per sample, its frame's index in its video (-1 for an image).
    """

    names: SampleNames
    embeddings: np.ndarray
    lightly_metadata: Mapping[str, np.ndarray]
    videos: Sequence[str | None]
    preselected: np.ndarray
    frame_indices: np.ndarray


def selection_pool(gathered: GatheredSamples, plan: DatapoolPlan | None) -> SelectionPool:
    """The candidates of `gathered` plus the preselected samples of the plan.

    A preselected sample whose embedding this run recomputed takes it from `gathered` (it is
    there whether or not it is a candidate); one that is also a candidate is one sample.
    """
    keep, preselected_rows, stored, missing = pool_members(gathered, plan)
    for name in missing:
        logger.warning("preselected sample %s is no longer in the input: left out", name)
    table = plan.preselected if plan is not None else None
    own = np.flatnonzero(keep)
    own_names = gathered.names.at_rows(own)  # a view: the pool's names are not copied
    if not stored and np.array_equal(keep, gathered.candidate):
        embeddings = gathered.candidate_embeddings()  # no copy when nothing else is in the pool
    else:
        embeddings = _pool_matrix(gathered, own)
    keys = [column.removeprefix("lightly_") for column in METADATA_COLUMNS]
    metadata: Mapping[str, np.ndarray] = ColumnsAtRows(gathered.lightly_metadata, keys, own)
    if gathered.frames:
        video_column = values_at_rows(gathered.frames["video"], own)
        frame_indices = values_at_rows(gathered.frames["frame_index"], own).astype(np.int64, copy=False)
    else:
        video_column = values_at_rows(np.array([""], dtype=object), own)
        frame_indices = values_at_rows(np.array([-1], dtype=np.int64), own)
    all_names = own_names
    if stored and table is not None:
        rows = table.take(pa.array(np.fromiter(stored.values(), dtype=np.int64, count=len(stored))))
        all_names = SampleNames.concat([own_names, SampleNames(stored)])
        metadata = {
            key: np.concatenate(
                [own_values, rows.column(f"lightly_{key}").to_numpy(zero_copy_only=False).astype(np.float64)]
            )
            for key, own_values in metadata.items()
        }
        video_column = np.concatenate([video_column, rows.column("video").to_numpy(zero_copy_only=False)])
        stored_frames = rows.column("frame_index").to_numpy(zero_copy_only=False).astype(np.int64)
        frame_indices = np.concatenate([frame_indices, stored_frames])
        order = pc.sort_indices(all_names.arrow).to_numpy()
        embeddings = _pool_matrix(gathered, own, rows, order)
        all_names, video_column, frame_indices = (
            all_names.at_rows(order),
            video_column[order],
            frame_indices[order],
        )
        metadata = {key: values[order] for key, values in metadata.items()}
    chosen = _preselected_positions(gathered, own, preselected_rows, all_names, list(stored))
    return SelectionPool(
        names=all_names,
        embeddings=embeddings,
        lightly_metadata=metadata,
        videos=SampleVideos(video_column),
        preselected=chosen,
        frame_indices=frame_indices,
    )


def pool_members(
    gathered: GatheredSamples, plan: DatapoolPlan | None
) -> tuple[np.ndarray, list[np.ndarray], dict[str, int], list[str]]:
    """Who is in the selection pool: this run's candidates and the dataset's samples.

    Returns:
        A mask of the gathered rows in the pool, the gathered rows of preselected samples, the
        preselected samples only the dataset holds (by name, their row of `plan.preselected`),
        and the preselected samples to embed again that the input no longer has.
    """
    keep = gathered.candidate.copy()
    preselected_rows: list[np.ndarray] = []
    stored: dict[str, int] = {}
    missing: list[str] = []
    if plan is not None and plan.reembed:
        rows = gathered.names.rows_of(plan.reembed)
        usable = rows >= 0
        usable[usable] &= gathered.errors[rows[usable]] == ""
        missing = [plan.reembed[index] for index in np.flatnonzero(~usable).tolist()]
        keep[rows[usable]] = True
        preselected_rows.append(rows[usable])
    if plan is not None and plan.preselected is not None:
        table = plan.preselected
        rows = gathered.names.rows_of(table.column("name"))
        keep[rows[rows >= 0]] = True
        preselected_rows.append(rows[rows >= 0])
        for index in np.flatnonzero(rows < 0).tolist():
            stored[str(table.column("name")[index].as_py())] = index
    return keep, preselected_rows, stored, missing


def _pool_matrix(
    gathered: GatheredSamples,
    own: np.ndarray,
    stored: pa.Table | None = None,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """The pool's embeddings: `gathered`'s at `own`, then `stored`'s, in `order` if given.

    Written a part at a time to a scratch file and put in order there (`matrix_file`), so that
    the pool is one mapped matrix, never a copy of the gathered one in memory beside it.
    """
    written = MatrixFile(ScratchFolder(), gathered.dim)
    for first in range(0, len(own), POOL_PART_ROWS):
        written.add(gathered.embeddings_of(own[first : first + POOL_PART_ROWS]))
    if stored is not None:
        written.add(embedding_matrix(stored))
    return written.rows_in_order(np.arange(written.rows) if order is None else order)


def _preselected_positions(
    gathered: GatheredSamples,
    own: np.ndarray,
    preselected_rows: list[np.ndarray],
    all_names: SampleNames,
    stored_names: list[str],
) -> np.ndarray:
    """Sorted positions in the pool of the preselected samples (processed here, or stored)."""
    if not preselected_rows and not stored_names:
        return np.zeros(0, dtype=np.int64)
    names = [gathered.names.take(np.concatenate(preselected_rows))] if preselected_rows else []
    wanted = SampleNames.concat([*names, SampleNames(stored_names)])
    positions = all_names.rows_of(wanted)
    return np.unique(positions[positions >= 0]).astype(np.int64)
