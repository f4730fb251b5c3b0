"""Builders of small selection problems for the engine tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    ThresholdFilter,
)


def problem(
    objectives: list[Objective],
    n: int,
    n_samples: int | None = None,
    *,
    preselected: list[int] | None = None,
    filters: list[ThresholdFilter] | None = None,
    proportion: float | None = None,
) -> SelectionProblem:
    return SelectionProblem(
        names=[f"s{i:03d}" for i in range(n)],
        objectives=objectives,
        filters=filters or [],
        n_samples=n_samples,
        proportion_samples=proportion,
        preselected=np.asarray(preselected or [], dtype=np.int64),
    )


def diversity(points: Any, strength: float = 1.0, **kwargs: Any) -> DiversityObjective:
    return DiversityObjective("div", np.asarray(points, dtype=np.float64), strength, **kwargs)


def balance(classes: list[int], target: list[float], strength: float = 1.0) -> BalanceObjective:
    k = len(target)
    return BalanceObjective(
        "bal", [f"c{j}" for j in range(k)], np.eye(k)[classes], np.asarray(target), strength
    )
