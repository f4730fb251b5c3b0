"""A 2-D map of the embeddings with the selection highlighted, from a bounded sample of points.

scikit-learn's t-SNE (Barnes-Hut, after a PCA to 50 dimensions) places at most `POINTS` (600) samples:
half of them selected (or every selected one when fewer), the rest drawn from the removed ones.
t-SNE keeps neighbourhoods, which is what a person checks on the map: whether the selection
spreads over every cluster. UMAP would need its own dependency and a numba compile of tens of
seconds per fresh process; t-SNE on 600 points takes under 1 s on one core, and the bound keeps it
there for any input size. It must not run beside pure-Python work of the driver: its many short NumPy
calls each wait for the interpreter lock, and a busy Python thread beside it slows it 30x.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lightly_ray.mapped_pages import take_rows
from lightly_ray.report.samples import SELECTED, ReportSamples, bounded_sample

POINTS = 600
# Barnes-Hut's accuracy/speed trade-off (scikit-learn's default 0.5): on 600 points, 0.8 takes
# 25% less time at the same trustworthiness (0.706 against 0.708 on unclustered, 0.987 on
# clustered 512-d embeddings, sklearn.manifold.trustworthiness with 10 neighbours).
ANGLE = 0.8
PCA_DIMENSIONS = 50
MIN_POINTS = 5

PICKED, PRESELECTED, REMOVED = "selected", "preselected", "removed"


def map_rows(samples: ReportSamples, points: int = POINTS) -> np.ndarray:
    """The rows the map shows, ascending: half selected (or all when fewer), the rest removed."""
    if samples.embeddings is None or len(samples) < MIN_POINTS:
        return np.zeros(0, dtype=np.int64)
    selected = samples.indices(SELECTED)
    removed = samples.removed
    chosen_selected, _ = bounded_sample(selected, max(points // 2, points - len(removed)), samples.seed + 40)
    chosen_removed, _ = bounded_sample(removed, points - len(chosen_selected), samples.seed + 41)
    return np.sort(np.concatenate([chosen_selected, chosen_removed]))


def map_groups(samples: ReportSamples, rows: np.ndarray) -> list[str]:
    """Per row, `selected` (this run), `preselected` (earlier runs) or `removed`."""
    picked = np.zeros(len(samples), dtype=bool)
    picked[np.asarray(samples.picked, dtype=np.int64)] = True
    preselected = np.zeros(len(samples), dtype=bool)
    preselected[np.asarray(samples.preselected, dtype=np.int64)] = True
    return [PICKED if picked[row] else PRESELECTED if preselected[row] else REMOVED for row in rows]


def embedding_map(
    samples: ReportSamples, points: int = POINTS, rows: np.ndarray | None = None
) -> dict[str, Any]:
    """report.json's `embeddingMap`: 2-D coordinates of a bounded sample of the pool.

    Returns:
        `{"method", "nPoints", "nInput", "points": [{"name", "x", "y", "group"}]}` where group is
        `selected` (this run), `preselected` (earlier runs) or `removed`; empty when there are no
        embeddings or fewer than `MIN_POINTS` samples.
    """
    embeddings = samples.embeddings
    if rows is None:
        rows = map_rows(samples, points)
    if embeddings is None or len(rows) < MIN_POINTS:
        return {}
    coordinates = project(np.asarray(take_rows(embeddings, rows), dtype=np.float32), samples.seed)
    groups = map_groups(samples, rows)
    return {
        "method": "t-SNE (scikit-learn) after PCA",
        "nPoints": len(rows),
        "nInput": len(samples),
        "points": [
            {
                "name": samples.names[int(row)],
                "x": round(float(x), 4),
                "y": round(float(y), 4),
                "group": group,
            }
            for row, (x, y), group in zip(rows, coordinates, groups, strict=True)
        ],
    }


def project(rows: np.ndarray, seed: int) -> np.ndarray:
    """2-D t-SNE coordinates of `rows` (shape (n, dim), n >= MIN_POINTS), scaled to [-1, 1]."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    count, dim = rows.shape
    reduced = rows
    if dim > PCA_DIMENSIONS and count > PCA_DIMENSIONS:
        reduced = PCA(n_components=PCA_DIMENSIONS, random_state=seed).fit_transform(rows)
    perplexity = float(min(30.0, (count - 1) / 3.0))
    coordinates = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500, angle=ANGLE
    ).fit_transform(np.asarray(reduced, dtype=np.float32))
    coordinates = coordinates - coordinates.mean(axis=0)
    scale = float(np.abs(coordinates).max()) or 1.0
    return np.asarray(coordinates / scale, dtype=np.float64)


__all__ = ["embedding_map", "map_groups", "map_rows", "project"]
