"""Embedding statistics of a selection: how spread out it is and how well it covers the input.

Distances are Euclidean between the embeddings selection used (as DIVERSITY measures them).

- **nearestNeighbour**: for each member of a set, the distance to the closest other member, for
  the input, the selection and the random set (`samples.py`). A diverse selection has larger
  distances than a random one of the same size.
- **coverDistance**: for each input sample, the distance to the closest member of the selection
  (of the random set); its maximum is the radius the set needs to cover the input. A good
  selection covers the input with a smaller radius than a random one.
- **examples**: selected samples beside the removed samples closest to them.

The work is bounded for millions of samples: at most `QUERIES` members are measured, against at
most `REFERENCES` members of the set (drawn at random, and then the block says `sampled`), in
chunks of `CHUNK` rows (two float64 matrices of QUERIES x CHUNK, 33 MB, at a time), so memory
and time stay flat however large the pool is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lightly_ray.mapped_pages import take_rows
from lightly_ray.report.histograms import histogram_block, summary
from lightly_ray.report.samples import INPUT, RANDOM, SELECTED, SET_NAMES, ReportSamples, bounded_sample

QUERIES = 2_000
REFERENCES = 100_000
CHUNK = 1_024
EXAMPLES = 8


def embedding_statistics(samples: ReportSamples) -> dict[str, Any]:
    """report.json's `embeddingStatistics` block (empty without embeddings or a pool of one).

    Returns:
        `nearestNeighbour` and `coverDistance`: per set a summary (`count`, `min`, `median`,
        `mean`, `max`, ...) and one histogram with shared bin edges.
    """
    embeddings = samples.embeddings
    if embeddings is None or len(samples) < 2:
        return {}
    nearest: dict[str, np.ndarray] = {}
    sampled: dict[str, bool] = {}
    for offset, which in enumerate(SET_NAMES):
        members = samples.indices(which)
        if len(members) < 2:
            continue
        queries, sampled_queries = bounded_sample(members, QUERIES, samples.seed + offset)
        references, sampled_references = bounded_sample(members, REFERENCES, samples.seed + 10 + offset)
        nearest[which] = nearest_distances(embeddings, queries, references, exclude_self=True)
        sampled[which] = sampled_queries or sampled_references
    cover: dict[str, np.ndarray] = {}
    queries, sampled_cover = bounded_sample(samples.indices(INPUT), QUERIES, samples.seed + 20)
    for offset, which in enumerate((SELECTED, RANDOM)):
        members = samples.indices(which)
        if len(members) == 0:
            continue
        references, sampled_references = bounded_sample(members, REFERENCES, samples.seed + 30 + offset)
        cover[which] = nearest_distances(embeddings, queries, references, exclude_self=False)
        sampled_cover = sampled_cover or sampled_references
    return {
        "nearestNeighbour": {
            "description": "distance of each member of a set to the closest other member",
            "sets": {
                which: {**summary(values), "sampled": sampled[which]} for which, values in nearest.items()
            },
            "histogram": histogram_block(nearest),
        },
        "coverDistance": {
            "description": "distance of each input sample to the closest member of the set",
            "sets": {which: summary(values) for which, values in cover.items()},
            "sampled": sampled_cover,
            "histogram": histogram_block(cover),
        },
    }


def selection_examples(samples: ReportSamples, count: int = EXAMPLES) -> list[dict[str, Any]]:
    """Selected samples of this run beside the removed sample closest to each.

    The examples are spread evenly over the pick order (the first pick, then later ones).

    Returns:
        Up to `count` entries `{"selected", "closestRemoved", "distance"}`; empty without
        embeddings or without removed samples.
    """
    embeddings = samples.embeddings
    removed = samples.removed
    picked = np.asarray(samples.picked, dtype=np.int64)
    if embeddings is None or len(removed) == 0 or len(picked) == 0:
        return []
    chosen = picked[np.unique(np.linspace(0, len(picked) - 1, min(count, len(picked))).astype(np.int64))]
    distances, closest = _nearest(embeddings, chosen, removed, exclude_self=False)
    return [
        {
            "selected": samples.names[int(pick)],
            "closestRemoved": samples.names[int(removed[neighbour])],
            "distance": round(float(distance), 6),
        }
        for pick, neighbour, distance in zip(chosen, closest, distances, strict=True)
    ]


def nearest_distances(
    embeddings: np.ndarray, queries: np.ndarray, references: np.ndarray, *, exclude_self: bool
) -> np.ndarray:
    """Euclidean distance from each query row to its closest reference row.

    Args:
        embeddings: Shape (n, dim).
        queries: Row indices to measure.
        references: Row indices to search.
        exclude_self: Skip a reference that is the query row itself.

    Returns:
        Shape (len(queries),), float64.
    """
    return _nearest(embeddings, queries, references, exclude_self=exclude_self)[0]


def _nearest(
    embeddings: np.ndarray, queries: np.ndarray, references: np.ndarray, *, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    # Rows spread over a mapped matrix are read through its file (`mapped_pages.take_rows`).
    query_rows = np.asarray(take_rows(embeddings, queries), dtype=np.float64)
    query_norms = np.einsum("ij,ij->i", query_rows, query_rows)
    best = np.full(len(queries), np.inf)
    best_at = np.zeros(len(queries), dtype=np.int64)
    for start in range(0, len(references), CHUNK):
        block = references[start : start + CHUNK]
        rows = np.asarray(take_rows(embeddings, block), dtype=np.float64)
        # |q|^2 + |r|^2 - 2 q.r, built in one (queries, CHUNK) matrix plus the product
        cross = query_rows @ rows.T
        cross *= 2.0
        squared = np.add.outer(query_norms, np.einsum("ij,ij->i", rows, rows))
        squared -= cross
        del cross
        if exclude_self:
            same_query, same_column = np.nonzero(queries[:, None] == block[None, :])
            squared[same_query, same_column] = np.inf
        at = np.argmin(squared, axis=1)
        values = squared[np.arange(len(queries)), at]
        better = values < best
        best[better] = values[better]
        best_at[better] = at[better] + start
    return np.sqrt(np.maximum(best, 0.0)), best_at


__all__ = ["embedding_statistics", "nearest_distances", "selection_examples"]
