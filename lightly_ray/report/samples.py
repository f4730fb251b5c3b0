"""The samples a report describes: every sample selection saw, what was picked, and a random twin.

The report compares three sets of the same pool (this run's candidates plus the dataset's
samples with the datapool):

- **input**: every sample of the pool;
- **selected**: the samples picked by this run plus the preselected ones of earlier runs;
- **random**: as many candidates as this run picked, drawn at random (seeded by
  `lightly_config.seed`), plus the same preselected samples: what selection is measured against.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INPUT, SELECTED, RANDOM = "input", "selected", "random"
SET_NAMES = (INPUT, SELECTED, RANDOM)


@dataclass(frozen=True)
class FilesRead:
    """The files a run read (images and videos), to ask whether a few given ones are among them.

    One pass over the files with a hash table of the few asked for: no set of millions of
    Python strings beside the embedding matrix.

    Attributes:
        files: Their names (string or large_string).
    """

    files: pa.Array | pa.ChunkedArray

    def among(self, wanted: Iterable[str]) -> set[str]:
        """Those of `wanted` that are among the files."""
        asked = pa.array(sorted(set(wanted)), pa.string())
        if not len(asked) or not len(self.files):
            return set()
        found = pc.filter(self.files, pc.is_in(self.files, value_set=asked))
        return {str(name) for name in found.to_pylist()}


@dataclass(frozen=True)
class ReportSamples:
    """The pool of a finished selection, as the report sees it.

    Attributes:
        names: Every sample of the pool, sorted (selection's order).
        embeddings: Shape (n, dim), or None when the run had none.
        picked: Indices of this run's picks, in pick order.
        preselected: Indices of the dataset's samples from earlier runs.
        videos: Per sample, its video, or None for an image.
        frame_indices: Per sample, its frame index in its video (-1 for an image).
        seed: Seed of the random set.
        read_here: The files this run read (None: every one). The report reads no other input
            file for a picture: a datapool run opens only new files.
    """

    names: Sequence[str]
    embeddings: np.ndarray | None
    picked: np.ndarray
    preselected: np.ndarray
    videos: Sequence[str | None]
    frame_indices: np.ndarray
    seed: int = 0
    read_here: FilesRead | None = None
    _masks: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    def row_of(self, name: str) -> int | None:
        """The row of the sample named `name` (binary search: names are sorted), or None."""
        row = bisect_left(self.names, name)
        return row if row < len(self.names) and self.names[row] == name else None

    def mask(self, which: str) -> np.ndarray:
        """Boolean mask of shape (n,) of the set `input`, `selected` or `random`."""
        if which not in self._masks:
            self._masks[which] = self._build_mask(which)
        return self._masks[which]

    def indices(self, which: str) -> np.ndarray:
        """Indices of the set `input`, `selected` or `random`, ascending."""
        return np.flatnonzero(self.mask(which))

    @property
    def removed(self) -> np.ndarray:
        """Indices of the candidates this run did not pick (preselected samples excluded)."""
        mask = ~self.mask(SELECTED)
        return np.flatnonzero(mask)

    def _build_mask(self, which: str) -> np.ndarray:
        count = len(self.names)
        mask = np.zeros(count, dtype=bool)
        if which == INPUT:
            mask[:] = True
            return mask
        mask[np.asarray(self.preselected, dtype=np.int64)] = True
        if which == SELECTED:
            mask[np.asarray(self.picked, dtype=np.int64)] = True
            return mask
        if which != RANDOM:
            raise ValueError(f"unknown set {which!r}: use one of {', '.join(SET_NAMES)}")
        candidates = np.flatnonzero(~mask)
        size = min(len(self.picked), len(candidates))
        rng = np.random.default_rng(self.seed)
        mask[rng.choice(candidates, size=size, replace=False)] = True
        return mask


def bounded_sample(indices: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, bool]:
    """At most `limit` of `indices`, drawn at random (sorted); and whether it is a sample."""
    if len(indices) <= limit:
        return indices, False
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(indices, size=limit, replace=False)), True


__all__ = ["INPUT", "RANDOM", "SELECTED", "SET_NAMES", "FilesRead", "ReportSamples", "bounded_sample"]
