from __future__ import annotations

import numpy as np
import pytest

from lightly_ray.selection import engine
from lightly_ray.selection.fast_diversity import FAST_PATH_MIN_ROWS, fast_diversity_applies
from lightly_ray.selection.problem import DiversityObjective, SelectionProblem, ThresholdFilter


@pytest.mark.parametrize("minimum_distance", [None, 1.2])
def test_compiled_fast_path_equals_the_numpy_engine(
    minimum_distance: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(11)
    count = FAST_PATH_MIN_ROWS
    points = rng.normal(size=(count, 24)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    problem = SelectionProblem(
        names=[f"s{index:06d}" for index in range(count)],
        objectives=[DiversityObjective(label="d", embeddings=points, minimum_distance=minimum_distance)],
        filters=[ThresholdFilter(label="t", values=rng.random(count), threshold=0.2, operation="BIGGER")],
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
