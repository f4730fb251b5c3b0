"""A slow, obviously correct reference of the selection algorithm, for tests.

Plain Python loops in float64; every potential is recomputed from scratch for every candidate at
every step. It implements `docs/selection.md` directly and shares nothing with the engine but the
problem types and the balance column merge (`balance_columns`, tested on its own).
"""

from __future__ import annotations

import math

from lightly_ray.selection.potentials import PROBABILITY_FLOOR, balance_columns
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    WeightsObjective,
)


def reference_select(problem: SelectionProblem) -> tuple[list[int], str]:
    """Select like `engine.select`, slowly.

    Args:
        problem: The selection problem (inputs are assumed finite and thresholds non-empty).

    Returns:
        (new picks in order, stop reason).

    """
    n = len(problem.names)
    allowed = [True] * n
    for threshold in problem.filters:
        for i in range(n):
            value = float(threshold.values[i])
            keep = {
                "SMALLER": value < threshold.threshold,
                "SMALLER_EQUAL": value <= threshold.threshold,
                "BIGGER": value > threshold.threshold,
                "BIGGER_EQUAL": value >= threshold.threshold,
            }[threshold.operation]
            allowed[i] = allowed[i] and keep
    selected = sorted({int(i) for i in problem.preselected})
    if problem.n_samples is not None:
        wanted = problem.n_samples
    else:
        assert problem.proportion_samples is not None
        wanted = max(1, math.floor(problem.proportion_samples * n + 1e-9))
    available = [i for i in range(n) if allowed[i] and i not in selected]
    budget = min(wanted, len(available) + len(selected))
    picks: list[int] = []
    while len(selected) < budget:
        best, best_score = -1, -math.inf
        for c in range(n):
            if not allowed[c] or c in selected:
                continue
            score = 0.0
            for objective in problem.objectives:
                if objective.strength != 0:
                    score += objective.strength * _log(potential(objective, selected, c))
            if math.isnan(score):
                score = -math.inf
            if best < 0 or score > best_score:
                best, best_score = c, score
        reason = _stop(problem.objectives, selected, best)
        if reason is not None:
            return picks, reason
        selected.append(best)
        picks.append(best)
    return picks, "budget"


def potential(objective: Objective, selected: list[int], c: int) -> float:
    """The potential of `selected + [c]`; math.inf stands for "the same for every candidate"."""
    if isinstance(objective, WeightsObjective):
        return sum(float(objective.weights[i]) for i in selected) + float(objective.weights[c])
    if isinstance(objective, BalanceObjective):
        return 1.0 / (1.0 + _kl_bits(objective, [*selected, c]))
    rows = _rows(objective)
    selected_rows = [r for i in selected for r in rows[i]]
    if not selected_rows:
        return math.inf if rows[c] else 0.0
    base = 0.0
    for i in selected:
        if rows[i]:
            nearest = [_nearest(objective, r, [s for s in selected_rows if s != r]) for r in rows[i]]
            base += sum(0.0 if math.isinf(d) else d for d in nearest) / len(rows[i])
    return base + _term(objective, selected, c)


def _term(objective: DiversityObjective, selected: list[int], c: int) -> float:
    rows = _rows(objective)
    selected_rows = [r for i in selected for r in rows[i]]
    if not rows[c]:
        return 0.0
    return sum(_nearest(objective, r, selected_rows) for r in rows[c]) / len(rows[c])


def _rows(objective: DiversityObjective) -> dict[int, list[int]]:
    n_rows = len(objective.embeddings)
    groups = list(range(n_rows)) if objective.groups is None else [int(g) for g in objective.groups]
    rows: dict[int, list[int]] = {}
    for r, g in enumerate(groups):
        rows.setdefault(g, []).append(r)
    return _DefaultEmpty(rows)


class _DefaultEmpty(dict[int, list[int]]):
    def __missing__(self, key: int) -> list[int]:
        return []


def _nearest(objective: DiversityObjective, row: int, others: list[int]) -> float:
    best = math.inf
    for other in others:
        squared = sum(
            (float(a) - float(b)) ** 2
            for a, b in zip(objective.embeddings[row], objective.embeddings[other], strict=True)
        )
        best = min(best, squared)
    return best


def _kl_bits(objective: BalanceObjective, members: list[int]) -> float:
    vectors, target, _ = balance_columns(objective)
    sums = [sum(float(vectors[i, k]) for i in members) for k in range(len(target))]
    total = sum(sums)
    kl = 0.0
    for k, t in enumerate(target):
        p = max(sums[k] / total if total > 0 else 0.0, PROBABILITY_FLOOR)
        if t > 0:
            kl += float(t) * math.log2(float(t) / p)
    return kl


def _log(value: float) -> float:
    if math.isinf(value):
        return 0.0  # the same for every candidate: left out
    return math.log(value) if value > 0 else -math.inf


def _stop(objectives: list[Objective], selected: list[int], c: int) -> str | None:
    for objective in objectives:
        if isinstance(objective, DiversityObjective) and objective.minimum_distance is not None:
            rows = _rows(objective)
            if any(rows[i] for i in selected) and math.sqrt(_term(objective, selected, c)) < (
                objective.minimum_distance
            ):
                return "stopping_condition_minimum_distance"
        if isinstance(objective, WeightsObjective):
            total = sum(float(objective.weights[i]) for i in selected) + float(objective.weights[c])
            if objective.max_sum is not None and total > objective.max_sum:
                return "stopping_condition_max_sum"
            if objective.minimum_value is not None and float(objective.weights[c]) < objective.minimum_value:
                return "stopping_condition_minimum_typicality"
    return None
