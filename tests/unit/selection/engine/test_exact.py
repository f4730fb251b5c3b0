"""Exact picks of the engine on tiny hand-checked problems."""

from __future__ import annotations

import numpy as np
import pytest

from lightly_ray.errors import LightlyRayError
from lightly_ray.selection.diversity import farthest_first
from lightly_ray.selection.engine import NothingLeftError, SelectionInputError, select
from lightly_ray.selection.problem import ThresholdFilter, WeightsObjective

from .helpers import balance, diversity, problem


def weights(values: list[float], strength: float = 1.0, **kwargs: float) -> WeightsObjective:
    return WeightsObjective("w", "WEIGHTS", np.asarray(values, dtype=np.float64), strength, **kwargs)  # type: ignore[arg-type]


def test_diversity_1d() -> None:
    # Empty S: index 0. Then distance^2 to {1}: 3 -> 4, 5 -> 16: picks 2.
    result = select(problem([diversity([[1], [3], [5]])], 3, 2))
    assert result.indices.tolist() == [0, 2]
    assert result.stop_reason == "budget"
    assert result.strategies[0]["final_minimum_distance"] == 4.0


def test_diversity_minimum_distance_stops() -> None:
    # After [0, 2] the best candidate (1) is at distance 2 < 2.5: stop before it.
    result = select(problem([diversity([[1], [3], [5]], minimum_distance=2.5)], 3, 3))
    assert result.indices.tolist() == [0, 2]
    assert result.stop_reason == "stopping_condition_minimum_distance"
    assert result.strategies[0]["stop_reason"] == "stopping_condition_minimum_distance"


def test_diversity_negative_strength_picks_nearest() -> None:
    # 0 first; nearest to {0} among 3, 10, 4 (index 1..3) is 3 (index 1), then 4 (index 3).
    result = select(problem([diversity([[0], [3], [10], [4]], -1.0)], 4, 3))
    assert result.indices.tolist() == [0, 1, 3]


def test_diversity_preselected() -> None:
    # S = {2} (x=5): distances^2 1 -> 16, 3 -> 4, 6 -> 1: picks 0 (x=1).
    result = select(problem([diversity([[1], [3], [5], [6]])], 4, 2, preselected=[2]))
    assert result.indices.tolist() == [0]
    assert result.budget == 2


def test_diversity_matches_farthest_first() -> None:
    points = np.random.default_rng(3).normal(size=(50, 4))
    ours = select(problem([diversity(points)], 50, 12, preselected=[7, 9])).indices
    theirs, _, _ = farthest_first(points, budget=12, preselected=np.array([7, 9]))
    assert ours.tolist() == theirs.tolist()


def test_weights_order_and_max_sum() -> None:
    # Greedy on sum of weights: 0.5, 0.3, 0.1 ... ; max_sum 0.85: 0.5 + 0.3 = 0.8, + 0.1 = 0.9 > 0.85.
    result = select(problem([weights([0.1, 0.5, 0.3, 0.0], max_sum=0.85)], 4, 4))
    assert result.indices.tolist() == [1, 2]
    assert result.stop_reason == "stopping_condition_max_sum"
    assert result.strategies[0]["sum"] == pytest.approx(0.8)


def test_weights_non_positive_potentials_tie_to_lowest_index() -> None:
    # All weights negative: every log potential is -inf, so index order (as lightly-mundig).
    assert select(problem([weights([-1, -2, -0.5])], 3, 3)).indices.tolist() == [0, 1, 2]
    # Strength -1: w=0 gives -log(0) = +inf first (index 3), then potential -1 (<= 0) is +inf: index 4;
    # then every sum is negative: index order.
    result = select(problem([weights([0.1, 0.5, 0.3, 0.0, -1.0], -1.0)], 5, 5))
    assert result.indices.tolist() == [3, 4, 0, 1, 2]


def test_typicality_minimum_value() -> None:
    objective = WeightsObjective("t", "TYPICALITY", np.array([0.9, 0.2, 0.5]), minimum_value=0.4)
    result = select(problem([objective], 3, 3))
    assert result.indices.tolist() == [0, 2]
    assert result.stop_reason == "stopping_condition_minimum_typicality"


def test_balance_target() -> None:
    # Classes [0, 0, 1, 0, 1], target 50/50. First pick: every p is one-hot, KL equal: index 0.
    # Then class 1 (index 2) makes p = t (KL 0). Next, index 1 gives p=(2/3,1/3) and index 4
    # gives (1/3,2/3): the same KL, tie to index 1; then 4 (p=(1/2,1/2)), then 3.
    result = select(problem([balance([0, 0, 1, 0, 1], [0.5, 0.5])], 5, 5))
    assert result.indices.tolist() == [0, 2, 1, 4, 3]
    assert result.strategies[0]["achieved"] == {"c0": 0.6, "c1": 0.4}


def test_balance_unnamed_classes_form_other_bucket() -> None:
    # Target {c0: 0.5}, classes c1 and c2 unnamed: they share the remainder 0.5 as "other".
    objective = balance([0, 1, 2, 0], [0.5, np.nan, np.nan])
    result = select(problem([objective], 4, 2))
    # First index 0 (tie), then index 1 (other) brings p = (0.5, 0.5) = t.
    assert result.indices.tolist() == [0, 1]
    assert result.strategies[0]["target"] == {"c0": 0.5, "other": 0.5}


def test_diversity_and_weights() -> None:
    # Empty S: the diversity term is left out, weights decide: index 2 (w=5).
    # S={2}: A=0; score log(d^2) + log(5 + w): 0 -> log 9 + log 5.1, 1 -> log 4 + log 5.2,
    # 3 -> log 49 + log 5.3: index 3. S={2,3}: A = 49 + 49 = 98: 0 -> 107 * 5.4 = 577.8,
    # 1 -> 102 * 5.5 = 561: index 0.
    objectives = [diversity([[0], [1], [3], [10]]), weights([0.1, 0.2, 5.0, 0.3])]
    assert select(problem(objectives, 4, 4)).indices.tolist() == [2, 3, 0, 1]


def test_diversity_lone_preselected_contributes_zero() -> None:
    # S={0}: A=0. Candidate 1: (0 + 1) * (1 + 150) = 151; candidate 3: (0 + 100) * 2 = 200.
    objectives = [diversity([[0], [1], [3], [10]]), weights([1.0, 150.0, -100.0, 1.0])]
    assert select(problem(objectives, 4, 2, preselected=[0])).indices.tolist() == [3]


def test_thresholds_filter_first() -> None:
    values = np.array([1.0, 5.0, 3.0, 7.0])
    filters = [
        ThresholdFilter("t1", values, 3.0, "BIGGER_EQUAL"),
        ThresholdFilter("t2", values, 7.0, "SMALLER"),
    ]
    # Left: indices 1 (x=5) and 2 (x=3). Index 1 first, then 2.
    result = select(problem([diversity([[0], [5], [3], [7]])], 4, 4, filters=filters))
    assert result.indices.tolist() == [1, 2]
    assert result.budget == 2


@pytest.mark.parametrize(
    ("operation", "expected"),
    [("SMALLER", [0]), ("SMALLER_EQUAL", [0, 1]), ("BIGGER", [2]), ("BIGGER_EQUAL", [1, 2])],
)
def test_threshold_operations(operation: str, expected: list[int]) -> None:
    threshold = ThresholdFilter("t", np.array([1.0, 2.0, 3.0]), 2.0, operation)  # type: ignore[arg-type]
    result = select(problem([weights([1.0, 1.0, 1.0])], 3, 3, filters=[threshold]))
    assert sorted(result.indices.tolist()) == expected


def test_thresholds_remove_everything() -> None:
    values = np.array([1.0, 2.0])
    filters = [
        ThresholdFilter("strategies[0]: METADATA a", values, 1.5, "BIGGER"),
        ThresholdFilter("strategies[1]: METADATA b", values, 1.5, "SMALLER"),
    ]
    with pytest.raises(NothingLeftError, match=r"after strategies\[1\]: METADATA b") as info:
        select(problem([weights([1.0, 1.0])], 2, 1, filters=filters))
    assert isinstance(info.value, LightlyRayError)
    assert info.value.kept == {"strategies[0]: METADATA a": 1, "strategies[1]: METADATA b": 1}


def test_proportion_budget_rounds_down_at_least_one() -> None:
    assert select(problem([weights([1.0] * 10)], 10, proportion=0.25)).budget == 2
    assert select(problem([weights([1.0] * 10)], 10, proportion=0.01)).budget == 1


def test_nan_inputs_are_named() -> None:
    points = np.zeros((8, 2))
    points[[1, 2, 3, 4, 5, 6]] = np.nan
    with pytest.raises(SelectionInputError, match=r"div: NaN .* s001, s002, s003, s004, s005 and 1 more"):
        select(problem([diversity(points)], 8, 2))
    with pytest.raises(SelectionInputError, match="w: NaN"):
        select(problem([weights([1.0, np.inf])], 2, 1))


def test_subpart_diversity() -> None:
    # Image 0 has objects at 0 and 10, image 1 at 1, image 2 at 5, image 3 has none.
    groups = np.array([0, 0, 1, 2])
    objective = diversity([[0], [10], [1], [5]], groups=groups)
    # Empty S: lowest image with objects: 0. S objects {0, 10}: image 1 -> 1, image 2 -> 25,
    # image 3 -> 0 (no objects): image 2; then image 1 (1) over image 3 (0).
    result = select(problem([objective], 4, 4))
    assert result.indices.tolist() == [0, 2, 1, 3]
