"""Float64 numpy references: the definition of the picks the fast engines must reproduce.

A squared distance is `((float64(x) - float64(c)) ** 2).sum()`; the minimum over the selected
set decides, ties go to the lowest index, and with nothing selected the first pick is row 0.
"""

from __future__ import annotations

import numpy as np

STOP_BUDGET = "budget"
STOP_MINIMUM_DISTANCE = "stopping_condition_minimum_distance"


def combined_scores(
    min_sq: np.ndarray,
    weights: np.ndarray,
    diversity_offset: float,
    weight_offset: float,
    diversity_strength: float,
    weight_strength: float,
) -> np.ndarray:
    """Diversity x weights score: s_d * log(D_S + sqrt(min_sq)) + s_w * log(W_S + w), in float64.

    A zero strength drops its term.
    """
    scores = np.zeros(len(min_sq), dtype=np.float64)
    with np.errstate(divide="ignore"):
        if diversity_strength != 0.0:
            scores += diversity_strength * np.log(diversity_offset + np.sqrt(min_sq))
        if weight_strength != 0.0:
            scores += weight_strength * np.log(weight_offset + np.asarray(weights, dtype=np.float64))
    return scores


def _update(points: np.ndarray, center: int, nearest: np.ndarray, chunk: int, buffer: np.ndarray) -> None:
    c = points[center]
    for start in range(0, len(points), chunk):
        stop = min(len(points), start + chunk)
        block = buffer[: stop - start]
        np.subtract(points[start:stop], c, out=block)
        np.multiply(block, block, out=block)
        np.minimum(nearest[start:stop], block.sum(axis=1), out=nearest[start:stop])


def reference_farthest_first(
    embeddings: np.ndarray,
    budget: int,
    *,
    preselected: np.ndarray | None = None,
    minimum_distance: float | None = None,
    weights: np.ndarray | None = None,
    diversity_strength: float = 1.0,
    weight_strength: float = 1.0,
    chunk: int = 4096,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Greedy farthest-first (or diversity x weights with `weights`) in plain float64 numpy.

    Args:
        embeddings: Array (n, d).
        budget: Size of the selection, preselected rows included.
        preselected: Rows selected before.
        minimum_distance: Stop when the next pick is closer (Euclidean) than this.
        weights: If given, pick by `combined_scores` with D_S = sum of the new picks' distances
            and W_S = sum of the selected rows' weights.
        diversity_strength: s_d (weights only).
        weight_strength: s_w (weights only).
        chunk: Rows per numpy chunk.

    Returns:
        (new picks, their Euclidean distance to the set before each pick (inf for a first pick),
        stop reason).
    """
    points = np.asarray(embeddings, dtype=np.float64)
    n = len(points)
    nearest = np.full(n, np.inf)
    chosen = np.zeros(n, dtype=bool)
    buffer = np.empty((min(chunk, max(n, 1)), points.shape[1]), dtype=np.float64)
    weight_sum = 0.0
    for index in np.unique(np.asarray(preselected if preselected is not None else [], dtype=np.int64)):
        chosen[index] = True
        _update(points, int(index), nearest, chunk, buffer)
        if weights is not None:
            weight_sum += float(weights[index])
    budget = min(budget, n)
    picks: list[int] = []
    distances: list[float] = []
    diversity_sum = 0.0
    stop = STOP_BUDGET
    while int(chosen.sum()) < budget:
        if not chosen.any():
            candidate = 0
        elif weights is None:
            candidate = int(np.argmax(np.where(chosen, -1.0, nearest)))
        else:
            scores = combined_scores(
                nearest, weights, diversity_sum, weight_sum, diversity_strength, weight_strength
            )
            open_rows = np.flatnonzero(~chosen)
            candidate = int(open_rows[np.argmax(scores[open_rows])])
        distance = float(np.sqrt(nearest[candidate]))
        if minimum_distance is not None and distance < minimum_distance:
            stop = STOP_MINIMUM_DISTANCE
            break
        picks.append(candidate)
        distances.append(distance)
        if np.isfinite(distance):
            diversity_sum += distance
        if weights is not None:
            weight_sum += float(weights[candidate])
        chosen[candidate] = True
        _update(points, candidate, nearest, chunk, buffer)
    return np.asarray(picks, dtype=np.int64), np.asarray(distances, dtype=np.float64), stop
