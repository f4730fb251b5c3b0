"""The selection engine: thresholds, budget, then a greedy pick maximising a sum of log potentials.

`select(problem)` solves a `SelectionProblem` exactly as `docs/selection.md` (and FORMATS.md
section 6) describes: thresholds filter first; the budget counts preselected samples; each pick
maximises `sum over objectives of strength * log(potential(S + {c}))` with ties to the lowest
index; selection stops at the budget or at the first stopping condition.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lightly_ray.errors import LightlyRayError
from lightly_ray.selection.base import SelectionResult
from lightly_ray.selection.fast_diversity import (
    fast_diversity_applies,
    fast_diversity_weights_applies,
    select_fast_diversity,
    select_fast_diversity_weights,
)
from lightly_ray.selection.potentials import BalanceState, DiversityState, ObjectiveState, WeightsState
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)


class SelectionInputError(LightlyRayError, ValueError):
    """The arrays of a selection problem cannot be selected on (NaN, wrong shape, bad index)."""


class NothingLeftError(LightlyRayError):
    """The threshold filters removed every candidate.

    Attributes:
        kept: Per threshold label, how many candidates it keeps on its own.
        emptied_by: The label of the threshold after which nothing was left.

    """

    def __init__(self, kept: dict[str, int], emptied_by: str, n_candidates: int) -> None:
        self.kept = kept
        self.emptied_by = emptied_by
        lines = "\n".join(f"  - {label}: keeps {count} of {n_candidates}" for label, count in kept.items())
        super().__init__(
            f"The THRESHOLD strategies leave no sample to select; nothing was left after {emptied_by}.\n"
            f"{lines}\nRelax the thresholds."
        )


def select(problem: SelectionProblem) -> SelectionResult:
    """Select samples for a selection problem.

    Args:
        problem: Candidates, objectives, threshold filters, budget and preselected indices.

    Returns:
        The new picks in pick order, why selection stopped, the budget (preselected included)
        and a report per objective (config order).

    Raises:
        SelectionInputError: An input holds NaN or infinite values, or has the wrong shape.
        NothingLeftError: The thresholds removed every candidate.

    """
    n_candidates = len(problem.names)
    validate(problem)
    allowed = apply_filters(problem.filters, n_candidates)
    preselected = np.unique(np.asarray(problem.preselected, dtype=np.int64))
    chosen = np.zeros(n_candidates, dtype=bool)
    chosen[preselected] = True
    available = np.flatnonzero(allowed & ~chosen)
    budget = min(wanted_samples(problem, n_candidates), len(available) + len(preselected))
    if fast_diversity_applies(problem):
        return select_fast_diversity(problem, allowed, preselected, budget)
    if fast_diversity_weights_applies(problem):
        return select_fast_diversity_weights(problem, allowed, preselected, budget)
    states = [make_state(objective, n_candidates) for objective in problem.objectives]
    for index in preselected:
        for state in states:
            state.add(int(index))
    picks, stop_reason, stopped_by = greedy(problem, states, available, budget - len(preselected))
    reports = []
    for position, state in enumerate(states):
        report = state.report()
        report["stop_reason"] = stop_reason if position == stopped_by else None
        reports.append(report)
    return SelectionResult(
        indices=np.asarray(picks, dtype=np.int64), stop_reason=stop_reason, budget=budget, strategies=reports
    )


def wanted_samples(problem: SelectionProblem, n_candidates: int) -> int:
    """The budget before capping: n_samples, or floor(proportion * candidates before thresholds), >= 1."""
    if problem.n_samples is not None:
        return int(problem.n_samples)
    if problem.proportion_samples is None:
        raise SelectionInputError("The selection problem has neither n_samples nor proportion_samples.")
    return max(1, math.floor(problem.proportion_samples * n_candidates + 1e-9))


def make_state(objective: Any, n_candidates: int) -> ObjectiveState:
    """The engine state of one objective."""
    if isinstance(objective, DiversityObjective):
        return DiversityState(objective, n_candidates)
    if isinstance(objective, WeightsObjective):
        return WeightsState(objective)
    if isinstance(objective, BalanceObjective):
        return BalanceState(objective)
    raise SelectionInputError(f"Unknown objective type {type(objective).__name__}.")


def greedy(
    problem: SelectionProblem, states: list[ObjectiveState], available: np.ndarray, n_picks: int
) -> tuple[list[int], str, int | None]:
    """Pick up to n_picks candidates from `available` (ascending), stopping at stopping conditions.

    Returns:
        (picks in order, stop reason, position of the objective that stopped it or None).

    """
    remaining = np.asarray(available, dtype=np.int64)
    picks: list[int] = []
    while len(picks) < n_picks and len(remaining):
        scores = combined_scores(problem, states, remaining)
        best = int(np.argmax(scores))
        candidate = int(remaining[best])
        stop = stopping_condition(problem, states, candidate)
        if stop is not None:
            return picks, stop[0], stop[1]
        for state in states:
            state.add(candidate)
        picks.append(candidate)
        remaining = np.delete(remaining, best)
    return picks, "budget", None


def combined_scores(
    problem: SelectionProblem, states: list[ObjectiveState], candidates: np.ndarray
) -> np.ndarray:
    """`sum strength * log potential` per candidate; strength 0 adds 0, NaN (inf - inf) becomes -inf.

    Args:
        problem: The problem (for the strengths).
        states: One state per objective.
        candidates: Array of shape (m,), int64.

    Returns:
        Array of shape (m,), float64.

    """
    total = np.zeros(len(candidates))
    for objective, state in zip(problem.objectives, states, strict=True):
        if objective.strength == 0:
            continue
        with np.errstate(invalid="ignore"):
            total = total + objective.strength * state.log_potentials(candidates)
    return np.where(np.isnan(total), -np.inf, total)


def stopping_condition(
    problem: SelectionProblem, states: list[ObjectiveState], candidate: int
) -> tuple[str, int] | None:
    """The first stopping condition (config order) the best candidate triggers, or None."""
    for position, (objective, state) in enumerate(zip(problem.objectives, states, strict=True)):
        if isinstance(objective, DiversityObjective) and isinstance(state, DiversityState):
            if objective.minimum_distance is not None and state.selected_rows.any():
                distance = math.sqrt(float(state.terms(np.array([candidate]))[0]))
                if distance < objective.minimum_distance:
                    return "stopping_condition_minimum_distance", position
        elif isinstance(objective, WeightsObjective) and isinstance(state, WeightsState):
            value = float(state.weights[candidate])
            if objective.max_sum is not None and state.total + value > objective.max_sum:
                return "stopping_condition_max_sum", position
            if objective.minimum_value is not None and value < objective.minimum_value:
                return "stopping_condition_minimum_typicality", position
    return None


def apply_filters(filters: list[ThresholdFilter], n_candidates: int) -> np.ndarray:
    """Which candidates pass every threshold.

    Returns:
        Boolean array of shape (n_candidates,).

    Raises:
        NothingLeftError: When no candidate passes all of them.

    """
    allowed = np.ones(n_candidates, dtype=bool)
    kept: dict[str, int] = {}
    emptied_by: str | None = None
    for threshold in filters:
        passes = threshold_mask(threshold)
        kept[threshold.label] = int(passes.sum())
        allowed &= passes
        if emptied_by is None and not allowed.any():
            emptied_by = threshold.label
    if emptied_by is not None:
        raise NothingLeftError(kept, emptied_by, n_candidates)
    return allowed


def threshold_mask(threshold: ThresholdFilter) -> np.ndarray:
    """Boolean array of shape (n_candidates,): the candidates one threshold keeps."""
    values = np.asarray(threshold.values, dtype=np.float64)
    if threshold.operation == "SMALLER":
        return values < threshold.threshold
    if threshold.operation == "SMALLER_EQUAL":
        return values <= threshold.threshold
    if threshold.operation == "BIGGER":
        return values > threshold.threshold
    if threshold.operation == "BIGGER_EQUAL":
        return values >= threshold.threshold
    raise SelectionInputError(f"{threshold.label}: unknown threshold operation {threshold.operation!r}.")


def validate(problem: SelectionProblem) -> None:
    """Check shapes, indices and finiteness of every array.

    Raises:
        SelectionInputError: Naming the objective (or threshold) label and up to 5 sample names.

    """
    names = problem.names
    n_candidates = len(names)
    preselected = np.asarray(problem.preselected, dtype=np.int64)
    if len(preselected) and (preselected.min() < 0 or preselected.max() >= n_candidates):
        raise SelectionInputError(f"Preselected indices must lie in [0, {n_candidates}).")
    for threshold in problem.filters:
        _check_rows(threshold.label, np.asarray(threshold.values, dtype=np.float64), names, None)
    for objective in problem.objectives:
        if not math.isfinite(objective.strength):
            raise SelectionInputError(
                f"{objective.label}: strength must be finite, got {objective.strength}."
            )
        if isinstance(objective, DiversityObjective):
            groups = None if objective.groups is None else np.asarray(objective.groups, dtype=np.int64)
            if groups is not None and len(groups) and (groups.min() < 0 or groups.max() >= n_candidates):
                raise SelectionInputError(
                    f"{objective.label}: object groups must lie in [0, {n_candidates})."
                )
            _check_rows(objective.label, np.asarray(objective.embeddings, dtype=np.float64), names, groups)
        elif isinstance(objective, WeightsObjective):
            _check_rows(objective.label, np.asarray(objective.weights, dtype=np.float64), names, None)
        else:
            _check_rows(objective.label, np.asarray(objective.class_vectors, dtype=np.float64), names, None)
            if objective.class_vectors.shape[1:] != (len(objective.target),):
                raise SelectionInputError(f"{objective.label}: class vectors and target differ in length.")


def _check_rows(label: str, values: np.ndarray, names: list[str], groups: np.ndarray | None) -> None:
    expected = len(names) if groups is None else len(groups)
    if len(values) != expected:
        raise SelectionInputError(f"{label}: expected {expected} rows, got {len(values)}.")
    bad_rows = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad_rows.any():
        rows = np.flatnonzero(bad_rows)
        candidates = rows if groups is None else np.unique(groups[rows])
        shown = ", ".join(names[int(c)] for c in candidates[:5])
        more = f" and {len(candidates) - 5} more" if len(candidates) > 5 else ""
        raise SelectionInputError(f"{label}: NaN or infinite values for samples {shown}{more}.")
