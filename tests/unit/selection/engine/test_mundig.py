"""Cross-check with lightly-mundig (Lightly's compiled engine) where the semantics agree.

Agreement (random inputs, no near-ties): DIVERSITY, WEIGHTS, BALANCE alone, DIVERSITY + WEIGHTS,
subpart DIVERSITY alone, with and without preselected samples. BALANCE combined with another
strategy and subpart DIVERSITY combined with WEIGHTS disagree on some inputs; see
docs/selection.md ("lightly-mundig findings").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lightly_ray.selection.engine import select
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    WeightsObjective,
)

mundig: Any = pytest.importorskip("lightly_mundig", reason="lightly_mundig is not installed")


def run_mundig(objectives: list[Objective], preselected: list[int], n_samples: int, n: int) -> list[int]:
    selection = mundig.Selection()
    for objective in objectives:
        if isinstance(objective, DiversityObjective):
            embeddings = objective.embeddings.tolist()
            if objective.groups is None:
                selection.add_diversifying_strategy(
                    embeddings, objective.strength, objective.minimum_distance
                )
            else:
                rows = [np.flatnonzero(objective.groups == c).tolist() for c in range(n)]
                selection.add_subpart_diversifying_strategy(
                    embeddings, rows, objective.strength, objective.minimum_distance
                )
        elif isinstance(objective, WeightsObjective):
            selection.add_weighting_strategy(objective.weights.tolist(), objective.strength)
        else:
            selection.add_balancing_strategy(
                objective.class_vectors.tolist(), objective.target.tolist(), objective.strength
            )
    return list(selection.run_selection(preselected, n, n_samples))


def build(kind: str, n: int, rng: np.random.Generator) -> Objective:
    strength = float(rng.choice([1.0, 0.5, 2.0, -1.0]))
    if kind == "diversity":
        return DiversityObjective("d", rng.normal(size=(n, 4)), strength)
    if kind == "subpart":
        return DiversityObjective(
            "g", rng.normal(size=(2 * n, 3)), strength, groups=rng.integers(0, n, 2 * n)
        )
    if kind == "weights":
        return WeightsObjective("w", "WEIGHTS", rng.uniform(0.01, 1.0, n), strength)
    vectors = rng.dirichlet(np.ones(3), n) * rng.integers(1, 4, (n, 1))
    return BalanceObjective("b", ["a", "b", "c"], vectors, rng.dirichlet(np.ones(3)), strength)


@pytest.mark.parametrize(
    "kinds", [["diversity"], ["weights"], ["balance"], ["subpart"], ["diversity", "weights"]]
)
@pytest.mark.parametrize("with_preselected", [False, True])
def test_same_picks_as_mundig(kinds: list[str], with_preselected: bool) -> None:
    rng = np.random.default_rng(len(kinds) * 7 + len(kinds[0]) + int(with_preselected))
    for _ in range(25):
        n = int(rng.integers(4, 30))
        objectives = [build(kind, n, rng) for kind in kinds]
        preselected = sorted(rng.choice(n, 2, replace=False).tolist()) if with_preselected else []
        n_samples = int(rng.integers(len(preselected) + 1, n + 1))
        problem = SelectionProblem(
            names=[str(i) for i in range(n)],
            objectives=objectives,
            n_samples=n_samples,
            preselected=np.asarray(preselected, dtype=np.int64),
        )
        ours = select(problem).indices.tolist()
        theirs = run_mundig(objectives, preselected, n_samples, n)
        assert sorted(theirs[: len(preselected)]) == preselected
        assert ours == theirs[len(preselected) :]


def test_minimum_distance_like_mundig() -> None:
    points = [[1.0], [3.0], [5.0]]
    for minimum, expected in [(2.5, [0, 2]), (1.9, [0, 2, 1])]:
        objective = DiversityObjective("d", np.asarray(points), 1.0, minimum_distance=minimum)
        problem = SelectionProblem(names=["a", "b", "c"], objectives=[objective], n_samples=3)
        assert select(problem).indices.tolist() == expected == run_mundig([objective], [], 3, 3)
