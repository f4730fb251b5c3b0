"""The engine's fast path for a lone DIVERSITY objective: the exact compiled kernel.

When the only objective is DIVERSITY on plain embeddings with a positive strength, the greedy
pick is the candidate farthest from the selected set, and `kernels.farthest_first` computes
exactly the float64 engine's picks, several times faster on large inputs (see
docs/selection_performance.md). Small problems stay on the numpy path: there the kernel's
one-time compilation (10-15 s on a new machine) would cost more than it saves.
"""

from __future__ import annotations

import numpy as np

from lightly_ray.selection.base import SelectionResult
from lightly_ray.selection.problem import DiversityObjective, SelectionProblem

FAST_PATH_MIN_ROWS = 20_000
PAIRWISE_REPORT_MAX = 20_000


def fast_diversity_applies(problem: SelectionProblem, min_rows: int = FAST_PATH_MIN_ROWS) -> bool:
    """Whether the problem is a lone, positive DIVERSITY on plain embeddings, large enough."""
    if len(problem.objectives) != 1:
        return False
    objective = problem.objectives[0]
    return (
        isinstance(objective, DiversityObjective)
        and objective.groups is None
        and objective.strength > 0
        and len(problem.names) >= min_rows
    )


def select_fast_diversity(
    problem: SelectionProblem, allowed: np.ndarray, preselected: np.ndarray, budget: int
) -> SelectionResult:
    """Farthest-first with the compiled kernel over the allowed and preselected candidates.

    Args:
        problem: A problem for which `fast_diversity_applies` holds.
        allowed: Mask of candidates that passed the thresholds, shape (n_candidates,).
        preselected: Sorted unique preselected candidate indices.
        budget: Size of the selection, preselected included.

    Returns:
        The same result as the numpy engine.
    """
    from lightly_ray.selection.kernels import farthest_first

    objective = problem.objectives[0]
    assert isinstance(objective, DiversityObjective)
    mask = allowed.copy()
    mask[preselected] = True
    rows = np.flatnonzero(mask)  # sorted, so ties to the lowest row are ties to the lowest index
    local_preselected = np.searchsorted(rows, preselected)
    result = farthest_first(
        np.ascontiguousarray(objective.embeddings[rows], dtype=np.float32),
        budget,
        preselected=local_preselected,
        minimum_distance=objective.minimum_distance,
    )
    picks = rows[result.indices]
    distances = [float(value) for value in result.min_distances_at_pick if np.isfinite(value)]
    selected = np.concatenate([preselected, picks])
    report = {
        "strategy": "DIVERSITY",
        "label": objective.label,
        "strength": objective.strength,
        "stopping_condition_minimum_distance": objective.minimum_distance,
        "final_minimum_distance": distances[-1] if distances else None,
        "minimum_pairwise_distance": _minimum_pairwise(objective.embeddings, selected),
        "stop_reason": result.stop_reason,
    }
    return SelectionResult(
        indices=picks.astype(np.int64), stop_reason=result.stop_reason, budget=budget, strategies=[report]
    )


def _minimum_pairwise(embeddings: np.ndarray, selected: np.ndarray) -> float | None:
    if len(selected) < 2 or len(selected) > PAIRWISE_REPORT_MAX:
        return None
    points = np.asarray(embeddings[selected], dtype=np.float64)
    best = np.inf
    for start in range(0, len(points), 1024):
        block = points[start : start + 1024]
        squared = (block**2).sum(1)[:, None] + (points**2).sum(1)[None, :] - 2.0 * block @ points.T
        squared[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        best = min(best, float(squared.min()))
    return float(np.sqrt(max(best, 0.0)))
