"""Farthest-first traversal in plain float64 numpy: the simple reference for DIVERSITY alone.

Distances are computed as `sum((x - c)**2)` in float64, ties go to the lowest index. The engine
(`engine.py`) and the sharded and compiled paths are checked against it.
"""

from __future__ import annotations

import numpy as np


def farthest_first(
    embeddings: np.ndarray,
    *,
    budget: int,
    preselected: np.ndarray | None = None,
    minimum_distance: float | None = None,
    strength: float = 1.0,
) -> tuple[np.ndarray, str, list[float]]:
    """Greedy farthest-first traversal (k-center greedy).

    Each pick is the candidate farthest from the selected set (the nearest when strength < 0);
    ties go to the lowest index. With nothing preselected the first pick is index 0.

    Args:
        embeddings: Array of shape (n, dim).
        budget: Total size of the selection, preselected samples included.
        preselected: Indices already selected; they count toward the budget.
        minimum_distance: Stop when the best candidate is closer than this (Euclidean) to the
            selected set.
        strength: Sign decides the direction; zero picks in index order.

    Returns:
        (new picks in order, stop reason, Euclidean distance of each new pick to the set before
        it; the first pick of an empty set has no distance and is left out).

    """
    points = np.asarray(embeddings, dtype=np.float64)
    count = len(points)
    chosen = np.zeros(count, dtype=bool)
    nearest = np.full(count, np.inf)
    for index in np.asarray(preselected if preselected is not None else [], dtype=np.int64):
        _add(points, int(index), chosen, nearest)
    picks: list[int] = []
    distances: list[float] = []
    stop_reason = "budget"
    while int(chosen.sum()) < budget:
        if not chosen.any() or strength == 0:
            candidate = int(np.argmin(chosen))  # first not-chosen index
        else:
            scores = np.where(chosen, np.nan, nearest)
            candidate = int(np.nanargmax(scores) if strength > 0 else np.nanargmin(scores))
            distance = float(np.sqrt(nearest[candidate]))
            if minimum_distance is not None and distance < minimum_distance:
                stop_reason = "stopping_condition_minimum_distance"
                break
            distances.append(distance)
        picks.append(candidate)
        _add(points, candidate, chosen, nearest)
    return np.asarray(picks, dtype=np.int64), stop_reason, distances


def _add(points: np.ndarray, index: int, chosen: np.ndarray, nearest: np.ndarray) -> None:
    chosen[index] = True
    difference = points - points[index]
    np.minimum(nearest, np.einsum("ij,ij->i", difference, difference), out=nearest)
