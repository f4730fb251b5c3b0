"""explain_selection on small problems whose answers are known by construction."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray.config.selection import SelectionConfig
from lightly_ray.selection import engine
from lightly_ray.selection.explain import ExplanationError, explain_selection
from lightly_ray.selection.fast_diversity import fast_diversity_applies, fast_diversity_weights_applies
from lightly_ray.selection.inputs import SelectionData, build_problem
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)

EMBEDDINGS = {"type": "EMBEDDINGS"}
DIVERSITY = {"type": "DIVERSITY"}


def metadata(key: str) -> dict[str, Any]:
    return {"type": "METADATA", "key": key}


def config(*strategies: tuple[dict[str, Any], dict[str, Any]], **budget: Any) -> SelectionConfig:
    return SelectionConfig.model_validate(
        {**budget, "strategies": [{"input": given, "strategy": strategy} for given, strategy in strategies]}
    )


def make_problem(
    objectives: list[Objective],
    n: int,
    n_samples: int,
    filters: list[ThresholdFilter] | None = None,
    preselected: list[int] | None = None,
) -> SelectionProblem:
    return SelectionProblem(
        names=[f"s{index:03d}" for index in range(n)],
        objectives=objectives,
        filters=filters or [],
        n_samples=n_samples,
        preselected=np.asarray(preselected or [], dtype=np.int64),
    )


def weights(values: list[float], strength: float = 1.0, max_sum: float | None = None) -> WeightsObjective:
    return WeightsObjective("w", "WEIGHTS", np.asarray(values), strength, max_sum=max_sum)


def line(xs: list[float], minimum_distance: float | None = None) -> DiversityObjective:
    return DiversityObjective("d", np.asarray([[x] for x in xs]), minimum_distance=minimum_distance)


# --- thresholds ------------------------------------------------------------------------------


def test_threshold_counts_on_their_own_and_cumulative_in_config_order() -> None:
    # a > 1 keeps {2, 3, 4, 5}; b < 5 keeps {0, 1, 3, 4, 5}; both keep {3, 4, 5}.
    # Weights among {3, 4, 5}: 0.3, 0.7, 0.2: picks 4 then 3.
    a = ThresholdFilter("a", np.array([0.0, 1, 2, 3, 4, 5]), 1.0, "BIGGER")
    b = ThresholdFilter("b", np.array([0.0, 0, 9, 0, 0, 0]), 5.0, "SMALLER")
    problem = make_problem([weights([0.9, 0.8, 0.1, 0.3, 0.7, 0.2])], 6, 2, filters=[a, b])
    cfg = config(
        (metadata("a"), {"type": "THRESHOLD", "threshold": 1.0, "operation": "BIGGER"}),
        ({"type": "SCORES", "task": "t", "score": "s"}, {"type": "WEIGHTS"}),
        (metadata("b"), {"type": "THRESHOLD", "threshold": 5.0, "operation": "SMALLER"}),
        n_samples=2,
    )
    result = engine.select(problem)
    assert result.indices.tolist() == [4, 3]
    assert (result.requested, result.n_candidates, result.n_after_thresholds) == (2, 6, 3)
    assert result.thresholds == [
        {"label": "a", "n_passed": 4, "n_left": 4},
        {"label": "b", "n_passed": 5, "n_left": 3},
    ]
    report = explain_selection(cfg, problem, result).report()
    json.dumps(report, allow_nan=False)
    assert report["requested"] == report["budget"] == report["nSelected"] == 2
    assert (report["nCandidates"], report["nAfterThresholds"], report["nPreselected"]) == (6, 3, 0)
    assert report["shortfall"] is None
    first, second, third = report["strategies"]
    assert first["index"] == 0 and first["strategy"] == "THRESHOLD" and first["input"] == "METADATA a"
    assert (first["threshold"], first["operation"]) == (1.0, "BIGGER")
    assert (first["nPassed"], first["nLeft"], first["nCandidates"]) == (4, 4, 6)
    assert (second["index"], second["strategy"], second["input"]) == (1, "WEIGHTS", "SCORES t.s")
    assert second["selected"] == pytest.approx({"min": 0.3, "max": 0.7, "mean": 0.5})
    assert second["candidates"] == pytest.approx({"min": 0.2, "max": 0.7, "mean": 0.4})
    assert (third["index"], third["operation"], third["nPassed"], third["nLeft"]) == (2, "SMALLER", 5, 3)
    assert all(entry["stop_reason"] is None for entry in report["strategies"])


# --- shortfall -------------------------------------------------------------------------------


def test_shortfall_when_the_input_is_smaller_than_requested() -> None:
    problem = make_problem([weights([0.1, 0.2, 0.3, 0.4])], 4, 10)
    cfg = config((metadata("w"), {"type": "WEIGHTS"}), n_samples=10)
    report = explain_selection(cfg, problem, engine.select(problem)).report()
    assert (report["requested"], report["budget"], report["nSelected"]) == (10, 4, 4)
    assert report["stopReason"] == "budget"
    assert report["shortfall"]["reason"] == "input_smaller_than_requested"
    assert "10 samples were requested but the input has only 4 candidates" in report["shortfall"]["message"]
    on_crops = replace(explain_selection(cfg, problem, engine.select(problem)), unit="crop").report()
    assert "10 crops were requested but the input has only 4 candidates" in on_crops["shortfall"]["message"]


def test_shortfall_when_the_thresholds_leave_too_few() -> None:
    # 6 candidates >= 4 requested, but only values 5 and 6 are > 4.5.
    threshold = ThresholdFilter("t", np.array([1.0, 2, 3, 4, 5, 6]), 4.5, "BIGGER")
    problem = make_problem([weights([1.0] * 6)], 6, 4, filters=[threshold])
    cfg = config(
        (metadata("t"), {"type": "THRESHOLD", "threshold": 4.5, "operation": "BIGGER"}),
        (metadata("w"), {"type": "WEIGHTS"}),
        n_samples=4,
    )
    report = explain_selection(cfg, problem, engine.select(problem)).report()
    counts = [report[key] for key in ("requested", "budget", "nSelected", "nAfterThresholds")]
    assert counts == [4, 2, 2, 2]
    assert report["shortfall"]["reason"] == "thresholds_left_too_few"
    message = report["shortfall"]["message"]
    assert "4 samples were requested but only 2 of the 6 candidates are left" in message
    assert "strategies[0] (THRESHOLD on METADATA t) BIGGER 4.5 keeps 2" in message


def test_shortfall_by_a_stopping_condition_names_it_and_its_strategy() -> None:
    # Picks 0 (x=1), then 2 (x=5, distance 4); the best next (x=3) is at distance 2 < 2.5: stop.
    problem = make_problem([weights([0.0, 0.0, 0.0], strength=0.0), line([1, 3, 5], 2.5)], 3, 3)
    cfg = config(
        (metadata("w"), {"type": "WEIGHTS", "strength": 0.0}),
        (EMBEDDINGS, {"type": "DIVERSITY", "stopping_condition_minimum_distance": 2.5}),
        n_samples=3,
    )
    result = engine.select(problem)
    report = explain_selection(cfg, problem, result).report()
    assert result.indices.tolist() == [0, 2]
    assert report["stopReason"] == "stopping_condition_minimum_distance"
    assert report["shortfall"]["reason"] == "stopping_condition"
    assert report["shortfall"]["message"] == (
        "3 samples were requested but selection stopped after 2 samples: strategies[1] (DIVERSITY on "
        "EMBEDDINGS) reached its stopping_condition_minimum_distance of 2.5."
    )
    assert report["strategies"][0]["stop_reason"] is None
    assert report["strategies"][1]["stop_reason"] == "stopping_condition_minimum_distance"


def test_shortfall_counts_the_new_candidates_beside_the_preselected() -> None:
    problem = make_problem([weights([0.1, 0.2, 0.3, 0.4])], 4, 10, preselected=[0, 1, 2])
    cfg = config((metadata("w"), {"type": "WEIGHTS"}), n_samples=10)
    report = explain_selection(cfg, problem, engine.select(problem)).report()
    assert report["shortfall"]["reason"] == "input_smaller_than_requested"
    message = report["shortfall"]["message"]
    assert "10 samples were requested but the input has only 1 new candidate beside 3 preselected" in message


def test_no_shortfall_when_preselected_samples_fill_the_budget() -> None:
    problem = make_problem([weights([0.1, 0.2, 0.3, 0.4])], 4, 3, preselected=[0])
    cfg = config((metadata("w"), {"type": "WEIGHTS"}), n_samples=3)
    report = explain_selection(cfg, problem, engine.select(problem)).report()
    assert (report["nPreselected"], report["nSelected"], report["shortfall"]) == (1, 2, None)


# --- mixed config order and the table ----------------------------------------------------------


def mixed() -> tuple[SelectionConfig, SelectionProblem]:
    # x = 0, 1, 3, 7, 10, 4.5; the threshold drops index 4 (x=10). WEIGHTS and BALANCE have strength
    # 0, so DIVERSITY decides: 0 first (tie, lowest index), 3 (x=7, distance 7), then 2 (x=3,
    # distance 3; x=4.5 is 2.5 from 7), then 5 (x=4.5, distance 1.5; x=1 is 1 from 0).
    threshold = ThresholdFilter("t", np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.55]), 0.5, "BIGGER_EQUAL")
    classes = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 0]], dtype=np.float64)
    objectives: list[Objective] = [
        weights([0.5, 0.1, 0.2, 0.4, 0.9, 0.3], strength=0.0),
        line([0, 1, 3, 7, 10, 4.5]),
        BalanceObjective("b", ["a", "b"], classes, np.array([0.5, 0.5]), strength=0.0),
    ]
    cfg = config(
        (metadata("lightly.sharpness"), {"type": "THRESHOLD", "threshold": 0.5, "operation": "BIGGER_EQUAL"}),
        ({"type": "SCORES", "task": "t", "score": "s"}, {"type": "WEIGHTS", "strength": 0.0}),
        (EMBEDDINGS, DIVERSITY),
        (metadata("kind"), {"type": "BALANCE", "target": {"a": 0.5, "b": 0.5}, "strength": 0.0}),
        n_samples=4,
    )
    return cfg, make_problem(objectives, 6, 4, filters=[threshold])


def test_mixed_strategies_are_reported_in_config_order() -> None:
    cfg, problem = mixed()
    result = engine.select(problem)
    assert result.indices.tolist() == [0, 3, 2, 5]
    report = explain_selection(cfg, problem, result).report()
    json.dumps(report, allow_nan=False)
    entries = report["strategies"]
    assert [(entry["index"], entry["strategy"]) for entry in entries] == [
        (0, "THRESHOLD"),
        (1, "WEIGHTS"),
        (2, "DIVERSITY"),
        (3, "BALANCE"),
    ]
    assert [entry["input"] for entry in entries] == [
        "METADATA lightly.sharpness",
        "SCORES t.s",
        "EMBEDDINGS",
        "METADATA kind",
    ]
    assert (entries[0]["nPassed"], entries[0]["nLeft"]) == (5, 5)
    assert entries[1]["selected"] == pytest.approx({"min": 0.2, "max": 0.5, "mean": 0.35})
    assert entries[1]["candidates"] == pytest.approx({"min": 0.1, "max": 0.5, "mean": 0.3})
    assert entries[2]["final_minimum_distance"] == pytest.approx(1.5)
    assert entries[3]["target"] == {"a": 0.5, "b": 0.5}
    assert entries[3]["achieved"] == pytest.approx({"a": 1 / 3, "b": 2 / 3})


def test_table_lists_the_picks_in_pick_order_with_each_strategys_value() -> None:
    cfg, problem = mixed()
    explanation = explain_selection(cfg, problem, engine.select(problem))
    table = explanation.table()
    expected_columns = [
        "rank",
        "name",
        "s0_threshold",
        "s1_weights",
        "s2_diversity_distance",
        "s3_balance_class",
    ]
    assert table.column_names == expected_columns
    assert list(explanation.columns()) == expected_columns
    assert all(explanation.columns().values())
    assert table.schema.field("rank").type == pa.int32()
    assert table.schema.field("s2_diversity_distance").type == pa.float64()
    assert table.schema.field("s3_balance_class").type == pa.string()
    assert table.to_pydict() == {
        "rank": [1, 2, 3, 4],
        "name": ["s000", "s003", "s002", "s005"],
        "s0_threshold": [0.9, 0.6, 0.7, 0.55],
        "s1_weights": [0.5, 0.4, 0.2, 0.3],
        "s2_diversity_distance": [None, 7.0, 3.0, 1.5],
        "s3_balance_class": ["a", "b", "b", None],
    }
    assert explanation.table([f"n{index}" for index in range(6)]).column("name").to_pylist() == [
        "n0",
        "n3",
        "n2",
        "n5",
    ]


def test_explain_works_on_a_problem_from_build_problem() -> None:
    # Same order check through inputs.build_problem: THRESHOLD, DIVERSITY, THRESHOLD, WEIGHTS.
    names = [f"s{index}" for index in range(5)]
    data = SelectionData(
        names=names,
        embeddings=np.array([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0]], dtype=np.float32),
        lightly_metadata={"sharpness": np.array([5.0, 1, 5, 5, 5]), "snr": np.array([0.0, 0, 0, 0, 9])},
    )
    cfg = config(
        (metadata("lightly.sharpness"), {"type": "THRESHOLD", "threshold": 2.0, "operation": "BIGGER"}),
        (EMBEDDINGS, DIVERSITY),
        (metadata("lightly.snr"), {"type": "THRESHOLD", "threshold": 1.0, "operation": "SMALLER"}),
        (metadata("lightly.snr"), {"type": "WEIGHTS", "strength": 0.0}),
        n_samples=2,
    )
    problem = build_problem(cfg, data)
    result = engine.select(problem)
    # Left: 0, 2, 3 (x = 0, 2, 3): 0 first, then x=3 at distance 3.
    assert result.indices.tolist() == [0, 3]
    explanation = explain_selection(cfg, problem, result)
    entries = explanation.report()["strategies"]
    assert [(entry["strategy"], entry.get("nLeft")) for entry in entries] == [
        ("THRESHOLD", 4),
        ("DIVERSITY", None),
        ("THRESHOLD", 3),
        ("WEIGHTS", None),
    ]
    assert explanation.table().column("s1_diversity_distance").to_pylist() == [None, 3.0]


def test_mismatched_config_and_problem_raise() -> None:
    problem = make_problem([weights([0.1, 0.2])], 2, 1)
    result = engine.select(problem)
    two = config((metadata("w"), {"type": "WEIGHTS"}), (EMBEDDINGS, DIVERSITY), n_samples=1)
    with pytest.raises(ExplanationError, match="no objective left"):
        explain_selection(two, problem, result)
    wrong_kind = config((EMBEDDINGS, DIVERSITY), n_samples=1)
    with pytest.raises(ExplanationError, match="is DIVERSITY"):
        explain_selection(wrong_kind, problem, result)
    extra = config(
        (metadata("w"), {"type": "WEIGHTS"}),
        (metadata("t"), {"type": "THRESHOLD", "threshold": 0.0, "operation": "BIGGER"}),
        n_samples=1,
    )
    with pytest.raises(ExplanationError, match="no threshold filter left"):
        explain_selection(extra, problem, result)


# --- pick distances: numpy engine and compiled fast paths --------------------------------------


def brute_force_distances(points: np.ndarray, preselected: list[int], picks: list[int]) -> np.ndarray:
    """Distance of each pick to everything selected before it, NaN for the first of an empty set."""
    selected = list(preselected)
    out = []
    for pick in picks:
        if selected:
            out.append(float(np.sqrt(((points[selected] - points[pick]) ** 2).sum(axis=1)).min()))
        else:
            out.append(math.nan)
        selected.append(pick)
    return np.asarray(out)


def random_problem(with_weights: bool, preselected: list[int]) -> SelectionProblem:
    rng = np.random.default_rng(5)
    count = 400
    points = rng.normal(size=(count, 8)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    objectives: list[Objective] = [DiversityObjective("d", points)]
    if with_weights:
        objectives.insert(0, WeightsObjective("w", "WEIGHTS", rng.random(count)))
    threshold = ThresholdFilter("t", rng.random(count), 0.2, "BIGGER")
    return make_problem(objectives, count, 40, filters=[threshold], preselected=preselected)


@pytest.mark.parametrize("with_weights", [False, True])
@pytest.mark.parametrize("preselected", [[], [3, 250]])
def test_pick_distances_of_the_fast_paths_equal_the_numpy_engine(
    with_weights: bool, preselected: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = random_problem(with_weights, preselected)
    position = 1 if with_weights else 0
    calls: list[str] = []
    fast_applies = fast_diversity_weights_applies if with_weights else fast_diversity_applies
    name = "fast_diversity_weights_applies" if with_weights else "fast_diversity_applies"

    def forced(given: SelectionProblem) -> bool:
        calls.append(name)
        return fast_applies(given, min_rows=1)

    monkeypatch.setattr(engine, name, forced)
    fast = engine.select(problem)
    assert calls
    monkeypatch.setattr(engine, "fast_diversity_applies", lambda given: False)
    monkeypatch.setattr(engine, "fast_diversity_weights_applies", lambda given: False)
    slow = engine.select(problem)
    assert fast.indices.tolist() == slow.indices.tolist()
    assert len(fast.pick_distances) == len(slow.pick_distances) == len(problem.objectives)
    if with_weights:
        assert fast.pick_distances[0] is None and slow.pick_distances[0] is None
    fast_distances, slow_distances = fast.pick_distances[position], slow.pick_distances[position]
    assert fast_distances is not None and slow_distances is not None
    assert fast_distances.dtype == slow_distances.dtype == np.float64
    assert len(fast_distances) == len(fast.indices)
    np.testing.assert_allclose(fast_distances, slow_distances, rtol=1e-9, equal_nan=True)
    points = np.asarray(problem.objectives[position].embeddings, dtype=np.float64)  # type: ignore[union-attr]
    expected = brute_force_distances(points, preselected, slow.indices.tolist())
    np.testing.assert_allclose(slow_distances, expected, rtol=1e-9, equal_nan=True)
    assert math.isnan(slow_distances[0]) == (not preselected)
