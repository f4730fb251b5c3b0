"""The selection engine: thresholds, budget, then a greedy pick maximising a sum of log potentials.

`select(problem)` solves a `SelectionProblem` exactly as `docs/selection.md` (and FORMATS.md
section 6) describes: thresholds filter first; the budget counts preselected samples; each pick
maximises `sum over objectives of strength * log(potential(S + {c}))` with ties to the lowest
index; selection stops at the budget or at the first stopping condition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from lightly_ray.errors import LightlyRayError, SelectionInputError
from lightly_ray.selection.fast_diversity import (
    fast_diversity_applies,
    fast_diversity_weights_applies,
    select_fast_diversity,
    select_fast_diversity_weights,
)
from lightly_ray.selection.finite import finite_rows
from lightly_ray.selection.potentials import BalanceState, DiversityState, ObjectiveState, WeightsState
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)
from lightly_ray.selection.result import SelectionResult


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


def select(
    problem: SelectionProblem, *, diversity_kernel: Callable[..., Any] | None = None
) -> SelectionResult:
    """Select samples for a selection problem.

    Args:
        problem: Candidates, objectives, threshold filters, budget and preselected indices.
        diversity_kernel: For DIVERSITY alone on plain embeddings (at any size), the
            farthest-first function to run instead of the engine's choice, with the contract of
            `kernels.farthest_first` (`selection.placement`: on the GPU, or on sharded actors).

    Returns:
        The new picks in pick order, why selection stopped, the budget (preselected included),
        a report per objective (config order), what was requested, the candidate counts before
        and after the thresholds, per threshold what it kept, and per DIVERSITY objective the
        distance of each pick at pick time.

    Raises:
        SelectionInputError: An input holds NaN or infinite values, or has the wrong shape.
        NothingLeftError: The thresholds removed every candidate.

    """
    n_candidates = len(problem.names)
    validate(problem)
    allowed, thresholds = apply_filters(problem.filters, n_candidates)
    preselected = np.unique(np.asarray(problem.preselected, dtype=np.int64))
    chosen = np.zeros(n_candidates, dtype=bool)
    chosen[preselected] = True
    open_rows = allowed & ~chosen
    requested = wanted_samples(problem, n_candidates)
    n_after_thresholds = int(np.count_nonzero(open_rows)) + len(preselected)
    budget = min(requested, n_after_thresholds)
    if diversity_kernel is not None and fast_diversity_applies(problem, min_rows=0):
        result = select_fast_diversity(problem, allowed, preselected, budget, kernel=diversity_kernel)
    elif fast_diversity_applies(problem):
        result = select_fast_diversity(problem, allowed, preselected, budget)
    elif fast_diversity_weights_applies(problem):
        result = select_fast_diversity_weights(problem, allowed, preselected, budget)
    else:
        result = select_greedy(problem, preselected, np.flatnonzero(open_rows), budget)
    return replace(
        result,
        requested=requested,
        n_candidates=n_candidates,
        n_after_thresholds=n_after_thresholds,
        thresholds=thresholds,
    )


def select_greedy(
    problem: SelectionProblem, preselected: np.ndarray, available: np.ndarray, budget: int
) -> SelectionResult:
    """The numpy engine: preselected candidates first, then greedy picks from `available`.

    Args:
        problem: The problem.
        preselected: Sorted unique preselected candidate indices.
        available: Ascending candidate indices that passed the thresholds and are not preselected.
        budget: Size of the selection, preselected included.

    Returns:
        The picks, stop reason, budget, reports and DIVERSITY pick distances (the counts of
        `select` are left at their defaults).

    """
    states = [make_state(objective, len(problem.names)) for objective in problem.objectives]
    for index in preselected:
        for state in states:
            state.add(int(index))
    picks, stop_reason, stopped_by = greedy(problem, states, available, budget - len(preselected))
    reports = []
    pick_distances: list[np.ndarray | None] = []
    for position, state in enumerate(states):
        report = state.report()
        report["stop_reason"] = stop_reason if position == stopped_by else None
        reports.append(report)
        if isinstance(state, DiversityState):
            # One distance per add: the preselected candidates' come first.
            pick_distances.append(np.asarray(state.add_distances[len(preselected) :], dtype=np.float64))
        else:
            pick_distances.append(None)
    return SelectionResult(
        indices=np.asarray(picks, dtype=np.int64),
        stop_reason=stop_reason,
        budget=budget,
        strategies=reports,
        pick_distances=pick_distances,
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


def apply_filters(
    filters: list[ThresholdFilter], n_candidates: int
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Which candidates pass every threshold, and how many each threshold keeps.

    Returns:
        (boolean array of shape (n_candidates,), per threshold in order a dict with `label`,
        `n_passed`: the candidates it keeps on its own, and `n_left`: the candidates kept by it
        and every earlier threshold).

    Raises:
        NothingLeftError: When no candidate passes all of them.

    """
    allowed = np.ones(n_candidates, dtype=bool)
    counts: list[dict[str, Any]] = []
    emptied_by: str | None = None
    for threshold in filters:
        passes = threshold_mask(threshold)
        allowed &= passes
        n_left = int(allowed.sum())
        counts.append({"label": threshold.label, "n_passed": int(passes.sum()), "n_left": n_left})
        if emptied_by is None and n_left == 0:
            emptied_by = threshold.label
    if emptied_by is not None:
        kept = {count["label"]: count["n_passed"] for count in counts}
        raise NothingLeftError(kept, emptied_by, n_candidates)
    return allowed, counts


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
            _check_rows(objective.label, np.asarray(objective.embeddings), names, groups)
        elif isinstance(objective, WeightsObjective):
            _check_rows(objective.label, np.asarray(objective.weights, dtype=np.float64), names, None)
        else:
            _check_rows(objective.label, np.asarray(objective.class_vectors, dtype=np.float64), names, None)
            if objective.class_vectors.shape[1:] != (len(objective.target),):
                raise SelectionInputError(f"{objective.label}: class vectors and target differ in length.")


def _check_rows(label: str, values: np.ndarray, names: Sequence[str], groups: np.ndarray | None) -> None:
    expected = len(names) if groups is None else len(groups)
    if len(values) != expected:
        raise SelectionInputError(f"{label}: expected {expected} rows, got {len(values)}.")
    bad_rows = ~finite_rows(values)  # a slice of rows at a time: no mask of the whole matrix
    if bad_rows.any():
        rows = np.flatnonzero(bad_rows)
        candidates = rows if groups is None else np.unique(groups[rows])
        shown = ", ".join(names[int(c)] for c in candidates[:5])
        more = f" and {len(candidates) - 5} more" if len(candidates) > 5 else ""
        raise SelectionInputError(f"{label}: NaN or infinite values for samples {shown}{more}.")
