"""Float64 numpy references: the definition of the picks the fast engines must reproduce.

A squared distance is `((float64(x) - float64(c)) ** 2).sum()`; the minimum over the selected
set decides, ties go to the lowest index, and with nothing selected the first pick is row 0.
"""

from __future__ import annotations

import numpy as np

from lightly_ray.selection.potentials import safe_log

STOP_BUDGET = "budget"
STOP_MINIMUM_DISTANCE = "stopping_condition_minimum_distance"
STOP_MAX_SUM = "stopping_condition_max_sum"
STOP_MINIMUM_WEIGHT = "stopping_condition_minimum_typicality"


def combined_scores(
    min_sq: np.ndarray,
    weights: np.ndarray,
    diversity_offset: float,
    weight_offset: float,
    diversity_strength: float,
    weight_strength: float,
) -> np.ndarray:
    """Diversity x weights score: s_d * log(A + min_sq) + s_w * log(W + w), in float64.

    This is the engine's sum of strength x log(potential) for DIVERSITY and WEIGHTS: A is the
    sum over selected rows of the squared distance to their nearest other selected row,
    `min_sq` a candidate's squared distance to the selected set, W the selected rows' weight
    sum. A zero strength drops its term; log of a value <= 0 is -inf; inf - inf is -inf.
    """
    scores = np.zeros(len(min_sq), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if diversity_strength != 0.0:
            scores = scores + diversity_strength * safe_log(diversity_offset + np.asarray(min_sq))
        if weight_strength != 0.0:
            scores = scores + weight_strength * safe_log(
                weight_offset + np.asarray(weights, dtype=np.float64)
            )
    return np.where(np.isnan(scores), -np.inf, scores)


def first_weighted_pick(weights: np.ndarray, weight_offset: float, weight_strength: float) -> int:
    """The first pick of DIVERSITY x WEIGHTS with nothing selected.

    The diversity term is the same for every candidate then (the engine leaves it out), so the
    weights decide (ties to the lowest index; with s_w = 0, index 0).
    """
    if weight_strength == 0.0:
        return 0
    scores = weight_strength * safe_log(weight_offset + np.asarray(weights, dtype=np.float64))
    return int(np.argmax(np.where(np.isnan(scores), -np.inf, scores)))


def sum_nearest_other(nearest_other: np.ndarray) -> float:
    """A: the sum of the selected rows' squared distances to their nearest other selected row.

    Args:
        nearest_other: One value per selected row in ascending row order, inf for a lone row
            (counted as 0), as the engine sums it.
    """
    return float(np.where(np.isinf(nearest_other), 0.0, nearest_other).sum())


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
        weights: If given, pick by `combined_scores` (A = sum of the selected rows' squared
            distances to their nearest other selected row, W = their weight sum); with nothing
            selected the weights alone decide the first pick.
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
    other = np.full(n, np.inf)  # per selected row: squared distance to its nearest other one
    buffer = np.empty((min(chunk, max(n, 1)), points.shape[1]), dtype=np.float64)
    weight_sum = 0.0

    def add(index: int) -> None:
        rows = np.flatnonzero(chosen)
        if len(rows):
            squared = ((points[rows] - points[index]) ** 2).sum(axis=1)
            other[rows] = np.minimum(other[rows], squared)
            other[index] = squared.min()
        chosen[index] = True
        _update(points, index, nearest, chunk, buffer)

    for index in np.unique(np.asarray(preselected if preselected is not None else [], dtype=np.int64)):
        add(int(index))
        if weights is not None:
            weight_sum += float(weights[index])
    budget = min(budget, n)
    picks: list[int] = []
    distances: list[float] = []
    stop = STOP_BUDGET
    while int(chosen.sum()) < budget:
        if not chosen.any():
            candidate = 0 if weights is None else first_weighted_pick(weights, 0.0, weight_strength)
        elif weights is None:
            candidate = int(np.argmax(np.where(chosen, -1.0, nearest)))
        else:
            scores = combined_scores(
                nearest,
                weights,
                sum_nearest_other(other[chosen]),
                weight_sum,
                diversity_strength,
                weight_strength,
            )
            open_rows = np.flatnonzero(~chosen)
            candidate = int(open_rows[np.argmax(scores[open_rows])])
        distance = float(np.sqrt(nearest[candidate]))
        if minimum_distance is not None and distance < minimum_distance:
            stop = STOP_MINIMUM_DISTANCE
            break
        picks.append(candidate)
        distances.append(distance)
        if weights is not None:
            weight_sum += float(weights[candidate])
        add(candidate)
    return np.asarray(picks, dtype=np.int64), np.asarray(distances, dtype=np.float64), stop
