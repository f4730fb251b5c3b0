"""Farthest-first selection over embeddings sharded across Ray actors, for N beyond one machine.

Each actor holds a contiguous shard of the embeddings (float32) and the running minimum
squared distance of its rows to the selected set (float64). One greedy step: the driver
sends the last pick's vector to every actor; each updates its minimum distances and answers
its best candidate (largest minimum distance, lowest index on ties); the driver takes the best
answer (lowest global index on ties). The arithmetic per row is the same as on one machine,
so the picks are identical to the single-process float64 greedy.

Cost per pick: every actor reads its shard once (N/shards x dim floats), and two round trips
(fetch the pick's dim-sized vector from its shard, then send it to every shard and collect a
(value, index) pair from each); k picks cost 2k round trips and k passes over the data,
spread over the shards: O(k N dim / shards) compute plus O(k shards) messages. Memory: each
actor holds its shard (4 bytes x dim per row) plus 8 bytes per row of minimum distances and a
float64 scratch of UPDATE_ROWS rows, and asks Ray for that much memory; the actors are spread
over the nodes. The driver holds nothing but the picks. The squared distances are computed as
`kernels.reference` computes them (float64, slice by slice), so the picks and distances are
those of the float64 reference and of the compiled kernels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray

from lightly_ray.mapped_pages import release_pages

UPDATE_ROWS = 8192


@ray.remote
class DiversityShard:
    """A shard of the embeddings with its rows' minimum squared distances to the selected set.

    Args:
        embeddings: Array of shape (n_shard, dim), float32.
        offset: Global index of the shard's first row.
    """

    def __init__(self, embeddings: np.ndarray, offset: int) -> None:
        self.points = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.offset = offset
        self.nearest = np.full(len(self.points), np.inf)
        self.chosen = np.zeros(len(self.points), dtype=bool)
        # float64 scratch for one slice of rows: the update never holds a float64 copy of the shard.
        self.scratch = np.empty((min(UPDATE_ROWS, max(len(self.points), 1)), self.points.shape[1]))

    def row(self, global_index: int) -> np.ndarray | None:
        """The vector of a global index, when this shard holds it."""
        local = global_index - self.offset
        if 0 <= local < len(self.points):
            vector: np.ndarray = self.points[local].copy()
            return vector
        return None

    def add(self, global_index: int, vector: np.ndarray) -> tuple[float, int]:
        """Add a pick to the selected set and return this shard's best next candidate.

        Returns:
            (its minimum squared distance, its global index), or (-inf, -1) when every row of
            the shard is selected.
        """
        local = global_index - self.offset
        if 0 <= local < len(self.points):
            self.chosen[local] = True
        center = np.asarray(vector, dtype=np.float64)
        # As kernels.reference does it, slice by slice: the same float64 squared distances.
        for start in range(0, len(self.points), UPDATE_ROWS):
            stop = min(len(self.points), start + UPDATE_ROWS)
            block = self.scratch[: stop - start]
            np.subtract(self.points[start:stop], center, out=block)
            np.multiply(block, block, out=block)
            np.minimum(self.nearest[start:stop], block.sum(axis=1), out=self.nearest[start:stop])
        if self.chosen.all():
            return float("-inf"), -1
        scores = np.where(self.chosen, -np.inf, self.nearest)
        best = int(np.argmax(scores))
        return float(scores[best]), best + self.offset


@dataclass
class ShardedResult:
    """Picks of a sharded farthest-first selection.

    Attributes:
        indices: New picks in pick order (global indices).
        stop_reason: "budget" or "stopping_condition_minimum_distance".
        distances: Euclidean distance of each pick after the first to the set before it.
    """

    indices: np.ndarray
    stop_reason: str
    distances: list[float]


def sharded_farthest_first(
    embeddings: np.ndarray,
    *,
    budget: int,
    shards: int,
    preselected: np.ndarray | None = None,
    minimum_distance: float | None = None,
    cpus_per_shard: float = 1.0,
) -> ShardedResult:
    """Farthest-first traversal with the embeddings spread over `shards` Ray actors.

    Args:
        embeddings: Array of shape (n, dim). (A caller with data beyond one machine builds the
            shards from distributed blocks instead; the actors' protocol is the same.)
        budget: Total size of the selection, preselected samples included.
        shards: Number of actors.
        preselected: Indices selected before; they count toward the budget.
        minimum_distance: Stop when the best candidate is closer than this to the selected set.
        cpus_per_shard: Ray CPUs each actor reserves.

    Returns:
        The picks, identical to the single-process float64 greedy.
    """
    count = len(embeddings)
    bounds = np.linspace(0, count, shards + 1).astype(int)
    actors = [
        DiversityShard.options(  # type: ignore[attr-defined]
            num_cpus=cpus_per_shard,
            # Its rows, minimum distances and scratch, with room: Ray places it where that fits.
            memory=int(embeddings[start:end].nbytes * 1.25 + (end - start) * 9 + (64 << 20)),
            scheduling_strategy="SPREAD",
        ).remote(embeddings[start:end], int(start))
        for start, end in itertools.pairwise(bounds)
        if end > start
    ]
    release_pages(embeddings)  # a mapped matrix's pages, read to send the shards
    initial = [int(index) for index in (preselected if preselected is not None else [])]
    selected = len(set(initial))
    picks: list[int] = []
    distances: list[float] = []
    answers: list[tuple[float, int]] = []
    for index in initial:
        answers = _add(actors, index)
    next_index = 0 if not initial else _best(answers)[1]
    stop_reason = "budget"
    while selected < budget and next_index >= 0:
        if selected and answers:
            best_value, next_index = _best(answers)
            if next_index < 0:
                break
            distance = float(np.sqrt(best_value))
            if minimum_distance is not None and distance < minimum_distance:
                stop_reason = "stopping_condition_minimum_distance"
                break
            distances.append(distance)
        picks.append(next_index)
        selected += 1
        answers = _add(actors, next_index)
    for actor in actors:
        ray.kill(actor)
    return ShardedResult(np.asarray(picks, dtype=np.int64), stop_reason, distances)


def _add(actors: list[Any], index: int) -> list[tuple[float, int]]:
    rows: list[np.ndarray] = [
        row for row in ray.get([actor.row.remote(index) for actor in actors]) if row is not None
    ]
    vector = ray.put(rows[0])
    answers: list[tuple[float, int]] = ray.get([actor.add.remote(index, vector) for actor in actors])
    return answers


def _best(answers: list[tuple[float, int]]) -> tuple[float, int]:
    """Largest value; among equal values the lowest global index."""
    candidates = [answer for answer in answers if answer[1] >= 0]
    if not candidates:
        return float("-inf"), -1
    return max(candidates, key=lambda answer: (answer[0], -answer[1]))
