"""Property tests: the engine picks exactly what the slow float64 reference picks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lightly_ray.selection.engine import select
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)
from lightly_ray.selection.reference import reference_select

KINDS = ["diversity", "subpart", "weights", "balance", "typicality"]


def build(kind: str, n: int, rng: np.random.Generator, strength: float) -> Objective:
    if kind == "diversity":
        minimum = float(rng.uniform(0.2, 1.0)) if rng.random() < 0.3 else None
        return DiversityObjective("d", rng.normal(size=(n, 3)), strength, minimum_distance=minimum)
    if kind == "subpart":
        rows = 2 * n
        return DiversityObjective("g", rng.normal(size=(rows, 2)), strength, groups=rng.integers(0, n, rows))
    if kind == "weights":
        max_sum = float(rng.uniform(1, 5)) if rng.random() < 0.3 else None
        return WeightsObjective("w", "WEIGHTS", rng.uniform(-0.2, 1.0, n), strength, max_sum=max_sum)
    if kind == "typicality":
        minimum = float(rng.uniform(0, 0.5)) if rng.random() < 0.5 else None
        return WeightsObjective("t", "TYPICALITY", rng.uniform(0, 1, n), strength, minimum_value=minimum)
    k = 4
    vectors = rng.dirichlet(np.ones(k), n) * rng.integers(0, 3, (n, 1))
    target = rng.dirichlet(np.ones(k))
    if rng.random() < 0.5:
        target[rng.integers(0, k)] = np.nan
        target[rng.integers(0, k)] = np.nan
        target = target * 0.8 / np.nansum(target)
    return BalanceObjective("b", ["a", "b", "c", "d"], vectors, target, strength)


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=3),
    n=st.integers(2, 14),
    preselect=st.integers(0, 3),
    with_threshold=st.booleans(),
    strengths=st.lists(st.sampled_from([1.0, 0.5, 2.0, -1.0, 0.0]), min_size=3, max_size=3),
)
def test_engine_matches_reference(
    seed: int, kinds: list[str], n: int, preselect: int, with_threshold: bool, strengths: list[float]
) -> None:
    rng = np.random.default_rng(seed)
    objectives = [build(kind, n, rng, strength) for kind, strength in zip(kinds, strengths, strict=False)]
    filters = []
    if with_threshold:
        filters = [ThresholdFilter("t", rng.uniform(0, 1, n), 0.2, "BIGGER")]
        if not (filters[0].values > 0.2).any():
            filters = []
    problem = SelectionProblem(
        names=[str(i) for i in range(n)],
        objectives=objectives,
        filters=filters,
        n_samples=int(rng.integers(1, n + 1)),
        preselected=rng.choice(n, min(preselect, n), replace=False).astype(np.int64),
    )
    picks, reason = reference_select(problem)
    result = select(problem)
    assert result.indices.tolist() == picks
    assert result.stop_reason == reason
