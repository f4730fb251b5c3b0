from __future__ import annotations

import numpy as np
import pytest

from lightly_ray.selection import engine
from lightly_ray.selection.fast_diversity import (
    FAST_PATH_MIN_ROWS,
    fast_diversity_applies,
    fast_diversity_weights_applies,
)
from lightly_ray.selection.problem import (
    DiversityObjective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)


@pytest.mark.parametrize("minimum_distance", [None, 1.2])
@pytest.mark.parametrize("threshold", [0.2, None], ids=["filtered", "every-row"])
def test_compiled_fast_path_equals_the_numpy_engine(
    minimum_distance: float | None, threshold: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(11)
    count = FAST_PATH_MIN_ROWS
    points = rng.normal(size=(count, 24)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    values = rng.random(count)
    problem = SelectionProblem(
        names=[f"s{index:06d}" for index in range(count)],
        objectives=[DiversityObjective(label="d", embeddings=points, minimum_distance=minimum_distance)],
        # Without a filter the kernel sees every row (no index array of the candidates).
        filters=[ThresholdFilter(label="t", values=values, threshold=threshold, operation="BIGGER")]
        if threshold is not None
        else [],
        n_samples=120,
        preselected=np.array([5, 19_000]),
    )
    assert fast_diversity_applies(problem)
    fast = engine.select(problem)
    monkeypatch.setattr(engine, "fast_diversity_applies", lambda problem: False)
    slow = engine.select(problem)
    assert fast.indices.tolist() == slow.indices.tolist()
    assert fast.stop_reason == slow.stop_reason
    assert fast.budget == slow.budget
    assert fast.strategies[0]["final_minimum_distance"] == pytest.approx(
        slow.strategies[0]["final_minimum_distance"]
    )
    assert fast.strategies[0]["minimum_pairwise_distance"] == pytest.approx(
        slow.strategies[0]["minimum_pairwise_distance"]
    )


def _diversity_weights_problem(
    rng: np.random.Generator,
    count: int,
    *,
    weights_first: bool,
    s_d: float,
    s_w: float,
    minimum_distance: float | None = None,
    max_sum: float | None = None,
    preselected: list[int] | None = None,
    threshold: float | None = 0.1,
) -> SelectionProblem:
    points = rng.normal(size=(count, 16)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    objectives: list[DiversityObjective | WeightsObjective] = [
        DiversityObjective(label="d", embeddings=points, strength=s_d, minimum_distance=minimum_distance),
        WeightsObjective(label="w", kind="WEIGHTS", weights=rng.random(count), strength=s_w, max_sum=max_sum),
    ]
    return SelectionProblem(
        names=[f"s{index:06d}" for index in range(count)],
        objectives=objectives[::-1] if weights_first else objectives,
        filters=[]
        if threshold is None
        else [ThresholdFilter(label="t", values=rng.random(count), threshold=threshold, operation="BIGGER")],
        n_samples=90,
        preselected=np.asarray(preselected or [], dtype=np.int64),
    )


@pytest.mark.parametrize(
    ("s_d", "s_w", "weights_first", "preselected", "minimum_distance", "max_sum", "threshold"),
    [
        (1.0, 1.0, False, None, None, None, 0.1),
        (1.0, 1.0, True, [3, 700], None, None, 0.1),
        (2.0, 0.5, False, [10], None, None, 0.1),
        (1.0, -1.0, True, None, None, None, 0.1),
        (0.5, 3.0, False, None, 1.05, None, 0.1),
        (1.0, 1.0, True, None, None, 30.0, 0.1),
        (1.0, 1.0, False, None, None, None, None),  # no filter: the kernel sees every row
        (1.0, 1.0, True, [3, 700], None, None, None),
    ],
)
def test_diversity_weights_fast_path_equals_the_numpy_engine(
    s_d: float,
    s_w: float,
    weights_first: bool,
    preselected: list[int] | None,
    minimum_distance: float | None,
    max_sum: float | None,
    threshold: float | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = _diversity_weights_problem(
        np.random.default_rng(21),
        FAST_PATH_MIN_ROWS,
        weights_first=weights_first,
        s_d=s_d,
        s_w=s_w,
        minimum_distance=minimum_distance,
        max_sum=max_sum,
        preselected=preselected,
        threshold=threshold,
    )
    assert fast_diversity_weights_applies(problem)
    fast = engine.select(problem)
    monkeypatch.setattr(engine, "fast_diversity_weights_applies", lambda problem: False)
    slow = engine.select(problem)
    assert fast.indices.tolist() == slow.indices.tolist()
    assert fast.stop_reason == slow.stop_reason
    if minimum_distance is not None or max_sum is not None:
        assert fast.stop_reason != "budget"
    assert len(fast.strategies) == len(slow.strategies) == 2
    for got, expected in zip(fast.strategies, slow.strategies, strict=True):
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9), key
            else:
                assert got[key] == value, key


def test_diversity_weights_fast_path_needs_non_negative_weights() -> None:
    problem = _diversity_weights_problem(
        np.random.default_rng(2), FAST_PATH_MIN_ROWS, weights_first=False, s_d=1.0, s_w=1.0
    )
    assert fast_diversity_weights_applies(problem)
    weights = problem.objectives[1]
    assert isinstance(weights, WeightsObjective)
    weights.weights[7] = -0.5
    assert not fast_diversity_weights_applies(problem)
