"""The engine's fast paths: the exact compiled kernels for DIVERSITY, alone or with WEIGHTS.

When the only objective is DIVERSITY on plain embeddings with a positive strength, the greedy
pick is the candidate farthest from the selected set, and `kernels.farthest_first` computes
exactly the float64 engine's picks. DIVERSITY with one WEIGHTS-like objective (WEIGHTS,
TYPICALITY, SIMILARITY) on non-negative weights goes to `kernels.farthest_first_weighted`, which
maximises the same `s_d log(A + m) + s_w log(W + w)` with the same stopping conditions. Both are
several times faster on large inputs (docs/selection_performance.md). Small problems stay on the
numpy path: there the kernels' one-time compilation (10-15 s on a new machine) would cost more
than it saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lightly_ray.mapped_pages import take_rows
from lightly_ray.selection.potentials import WeightsState
from lightly_ray.selection.problem import DiversityObjective, SelectionProblem, WeightsObjective
from lightly_ray.selection.result import SelectionResult

FAST_PATH_MIN_ROWS = 20_000
# The stop reasons of kernels.reference (not imported here: the kernels load numba and torch).
_DIVERSITY_STOP = "stopping_condition_minimum_distance"
_WEIGHT_STOPS = ("stopping_condition_max_sum", "stopping_condition_minimum_typicality")
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


def fast_diversity_weights_applies(problem: SelectionProblem, min_rows: int = FAST_PATH_MIN_ROWS) -> bool:
    """Whether the problem is DIVERSITY (plain embeddings) plus one objective with weights >= 0."""
    if len(problem.objectives) != 2 or len(problem.names) < min_rows:
        return False
    kinds = {type(objective) for objective in problem.objectives}
    if kinds != {DiversityObjective, WeightsObjective}:
        return False
    diversity, weights = _split(problem)
    return diversity.groups is None and bool((np.asarray(weights.weights) >= 0).all())


def _split(problem: SelectionProblem) -> tuple[DiversityObjective, WeightsObjective]:
    first, second = problem.objectives
    if isinstance(first, DiversityObjective) and isinstance(second, WeightsObjective):
        return first, second
    assert isinstance(second, DiversityObjective) and isinstance(first, WeightsObjective)
    return second, first


def _local_rows(allowed: np.ndarray, preselected: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """The rows the kernel sees (allowed or preselected, ascending) and the preselected among them.

    None stands for every row (nothing filtered out, the usual case): no index array as long as
    the candidates (8 bytes a candidate) is made for it.
    """
    if allowed.all():
        return None, preselected
    mask = allowed.copy()
    mask[preselected] = True
    rows = np.flatnonzero(mask)  # sorted, so ties to the lowest row are ties to the lowest index
    return rows, np.searchsorted(rows, preselected)


def _rows_of(embeddings: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """The kernel's float32 matrix: the embeddings themselves when every row is in (no copy)."""
    if rows is None or len(rows) == len(embeddings):  # sorted and unique: all of them
        return np.ascontiguousarray(embeddings, dtype=np.float32)
    return np.ascontiguousarray(take_rows(embeddings, rows), dtype=np.float32)


def select_fast_diversity_weights(
    problem: SelectionProblem, allowed: np.ndarray, preselected: np.ndarray, budget: int
) -> SelectionResult:
    """DIVERSITY x WEIGHTS with the compiled kernel; the same result as the numpy engine.

    Args:
        problem: A problem for which `fast_diversity_weights_applies` holds.
        allowed: Mask of candidates that passed the thresholds, shape (n_candidates,).
        preselected: Sorted unique preselected candidate indices.
        budget: Size of the selection, preselected included.

    Returns:
        The picks, the stop reason and both objectives' reports (config order).
    """
    from lightly_ray.selection.kernels import farthest_first_weighted

    diversity, weights = _split(problem)
    rows, local_preselected = _local_rows(allowed, preselected)
    w = np.asarray(weights.weights, dtype=np.float64)
    result = farthest_first_weighted(
        _rows_of(diversity.embeddings, rows),
        w if rows is None else w[rows],
        budget,
        preselected=local_preselected,
        diversity_strength=float(diversity.strength),
        weight_strength=float(weights.strength),
        minimum_distance=diversity.minimum_distance,
        max_sum=weights.max_sum,
        minimum_weight=weights.minimum_value,
        diversity_stops_first=problem.objectives[0] is diversity,
    )
    picks = result.indices if rows is None else rows[result.indices]
    pairwise = result.minimum_nearest_other
    weights_state = WeightsState(weights)  # the engine's own report of a weights objective
    for index in np.concatenate([preselected, picks]):
        weights_state.add(int(index))
    weights_report = weights_state.report()
    weights_report["stop_reason"] = result.stop_reason if result.stop_reason in _WEIGHT_STOPS else None
    reports = {
        id(diversity): _diversity_report(
            diversity,
            result.min_distances_at_pick,
            float(np.sqrt(pairwise)) if np.isfinite(pairwise) else None,
            result.stop_reason if result.stop_reason == _DIVERSITY_STOP else None,
        ),
        id(weights): weights_report,
    }
    return SelectionResult(
        indices=picks.astype(np.int64),
        stop_reason=result.stop_reason,
        budget=budget,
        strategies=[reports[id(objective)] for objective in problem.objectives],
        pick_distances=[
            _at_pick(result.min_distances_at_pick) if objective is diversity else None
            for objective in problem.objectives
        ],
    )


def select_fast_diversity(
    problem: SelectionProblem,
    allowed: np.ndarray,
    preselected: np.ndarray,
    budget: int,
    kernel: Callable[..., Any] | None = None,
) -> SelectionResult:
    """Farthest-first with the compiled kernel over the allowed and preselected candidates.

    Args:
        problem: A problem for which `fast_diversity_applies` holds.
        allowed: Mask of candidates that passed the thresholds, shape (n_candidates,).
        preselected: Sorted unique preselected candidate indices.
        budget: Size of the selection, preselected included.
        kernel: Another exact farthest-first function with the contract of
            `kernels.farthest_first` (default: that one).

    Returns:
        The same result as the numpy engine.
    """
    if kernel is None:
        from lightly_ray.selection.kernels import farthest_first

        kernel = farthest_first

    objective = problem.objectives[0]
    assert isinstance(objective, DiversityObjective)
    rows, local_preselected = _local_rows(allowed, preselected)
    result = kernel(
        _rows_of(objective.embeddings, rows),
        budget,
        preselected=local_preselected,
        minimum_distance=objective.minimum_distance,
    )
    picks = result.indices if rows is None else rows[result.indices]
    report = _diversity_report(
        objective,
        result.min_distances_at_pick,
        _minimum_pairwise(objective.embeddings, np.concatenate([preselected, picks])),
        result.stop_reason,
    )
    return SelectionResult(
        indices=picks.astype(np.int64),
        stop_reason=result.stop_reason,
        budget=budget,
        strategies=[report],
        pick_distances=[_at_pick(result.min_distances_at_pick)],
    )


def _at_pick(distances: np.ndarray) -> np.ndarray:
    """The kernels' distances at pick time as the engine reports them: float64, NaN (not inf) first."""
    values = np.asarray(distances, dtype=np.float64)
    return np.where(np.isinf(values), np.nan, values)


def _diversity_report(
    objective: DiversityObjective,
    pick_distances: np.ndarray,
    minimum_pairwise: float | None,
    stop_reason: str | None,
) -> dict[str, Any]:
    """The DIVERSITY report, with the same keys as `potentials.DiversityState.report`."""
    distances = [float(value) for value in pick_distances if np.isfinite(value)]
    return {
        "strategy": "DIVERSITY",
        "label": objective.label,
        "strength": objective.strength,
        "stopping_condition_minimum_distance": objective.minimum_distance,
        "final_minimum_distance": distances[-1] if distances else None,
        "minimum_pairwise_distance": minimum_pairwise,
        "stop_reason": stop_reason,
    }


def _minimum_pairwise(embeddings: np.ndarray, selected: np.ndarray) -> float | None:
    if len(selected) < 2 or len(selected) > PAIRWISE_REPORT_MAX:
        return None
    points = np.asarray(take_rows(embeddings, selected), dtype=np.float64)
    best = np.inf
    for start in range(0, len(points), 1024):
        block = points[start : start + 1024]
        squared = (block**2).sum(1)[:, None] + (points**2).sum(1)[None, :] - 2.0 * block @ points.T
        squared[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        best = min(best, float(squared.min()))
    return float(np.sqrt(max(best, 0.0)))
