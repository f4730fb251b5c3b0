from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from lightly_ray.config.selection import SelectionConfig
from lightly_ray.errors import LightlyRayError
from lightly_ray.formats.metadata import MetadataColumns
from lightly_ray.formats.metadata_schema import MetadataField, MetadataType
from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.prediction_schema import TaskType
from lightly_ray.sample_names import SampleNames
from lightly_ray.selection.embedding_scores import similarity_scores, typicality_scores
from lightly_ray.selection.inputs import (
    ObjectEmbeddings,
    SelectionData,
    SelectionInputError,
    build_problem,
)
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    WeightsObjective,
)

from .helpers import make_task

NAMES = ["a.png", "b.png", "c.png", "d.png"]


def config(*strategies: tuple[dict[str, Any], dict[str, Any]], **budget: Any) -> SelectionConfig:
    return SelectionConfig.model_validate(
        {
            **(budget or {"n_samples": 2}),
            "strategies": [{"input": given, "strategy": strategy} for given, strategy in strategies],
        }
    )


def data(**overrides: Any) -> SelectionData:
    embeddings = np.array([[1, 0], [0, 1], [-1, 0], [0.6, 0.8]], dtype=np.float32)
    weather = make_task(
        "weather",
        TaskType.CLASSIFICATION,
        ["sunny", "rainy"],
        {
            "a.png": [Prediction(category_id=0, probabilities=(0.9, 0.1))],
            "b.png": [Prediction(category_id=1, probabilities=(0.4, 0.6))],
        },
    )
    cars = make_task(
        "cars",
        TaskType.OBJECT_DETECTION,
        ["car", "bus", "bike"],
        {
            "a.png": [
                Prediction(category_id=0, score=0.9, bbox=(0, 0, 1, 1)),
                Prediction(category_id=1, score=0.6, bbox=(0, 0, 1, 1), probabilities=(0.2, 0.8, 0.0)),
            ],
            "c.png": [Prediction(category_id=0, score=0.7, bbox=(0, 0, 1, 1))],
        },
    )
    metadata = MetadataColumns(
        fields=[
            MetadataField("Temperature", "weather.temperature", MetadataType.NUMERIC_FLOAT, 0.0),
            MetadataField("Description", "weather.description", MetadataType.CATEGORICAL_STRING, "unknown"),
            MetadataField("Night", "night", MetadataType.CATEGORICAL_BOOLEAN, False),
        ],
        sample_names=list(NAMES),
        columns={
            "weather.temperature": np.array([10.0, 20.0, 5.0, -1.0]),
            "weather.description": np.array(["sunny", "rainy", "sunny", "cloudy"], dtype=object),
            "night": np.array([True, False, False, False], dtype=object),
        },
    )
    values: dict[str, Any] = {
        "names": list(NAMES),
        "embeddings": embeddings,
        "predictions": {"weather": weather, "cars": cars},
        "metadata": metadata,
        "lightly_metadata": {"sharpness": np.array([1.0, 2.0, 3.0, 4.0])},
        "query_embeddings": {("ds", "tag"): np.array([[1.0, 0.0]], dtype=np.float32)},
        "object_embeddings": {
            "cars": ObjectEmbeddings(
                embeddings=np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32),
                candidate_index=np.array([0, 0, 2]),
            )
        },
    }
    values.update(overrides)
    return SelectionData(**values)


def fails(cfg: SelectionConfig, message: str, selection_data: SelectionData | None = None) -> str:
    with pytest.raises(SelectionInputError) as info:
        build_problem(cfg, selection_data or data())
    assert isinstance(info.value, LightlyRayError)
    text = str(info.value)
    assert message in text, text
    return text


WEIGHTS = {"type": "WEIGHTS"}


def test_scores_give_weights_and_thresholds() -> None:
    problem = build_problem(
        config(
            ({"type": "SCORES", "task": "weather", "score": "uncertainty_least_confidence"}, WEIGHTS),
            (
                {"type": "SCORES", "task": "cars", "score": "objectness_least_confidence"},
                {"type": "THRESHOLD", "threshold": 0.2, "operation": "BIGGER"},
            ),
        ),
        data(),
    )
    assert problem.names == NAMES and problem.n_samples == 2
    (weights,) = problem.objectives
    assert isinstance(weights, WeightsObjective) and weights.kind == "WEIGHTS"
    np.testing.assert_allclose(weights.weights, [0.2, 0.8, 0.0, 0.0])
    (threshold,) = problem.filters
    np.testing.assert_allclose(threshold.values, [1 - 0.75, 0.0, 1 - 0.7, 0.0])
    assert threshold.operation == "BIGGER" and threshold.threshold == 0.2
    assert threshold.label == "strategies[1]: SCORES cars.objectness_least_confidence"


def test_unknown_score_names_path_task_and_options() -> None:
    cfg = config(({"type": "SCORES", "task": "weather", "score": "entropy"}, WEIGHTS))
    text = fails(
        cfg, "selection_config.strategies[0].input.score: unknown score 'entropy' for task 'weather'"
    )
    assert "(classification); available: uncertainty_least_confidence, uncertainty_margin" in text


def test_unknown_task_lists_tasks() -> None:
    cfg = config(({"type": "SCORES", "task": "nope", "score": "x"}, WEIGHTS))
    fails(cfg, "selection_config.strategies[0].input.task: unknown task 'nope'; available: cars, weather")


def test_class_distribution_balance() -> None:
    cfg = config(
        (
            {"type": "PREDICTIONS", "task": "cars", "name": "CLASS_DISTRIBUTION"},
            {"type": "BALANCE", "target": {"bus": 0.5}, "strength": 2.0},
        )
    )
    (balance,) = build_problem(cfg, data()).objectives
    assert isinstance(balance, BalanceObjective)
    assert balance.class_names == ["car", "bus", "bike"] and balance.strength == 2.0
    np.testing.assert_allclose(balance.class_vectors, [[1.2, 0.8, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(balance.target, [np.nan, 0.5, np.nan])


def test_balance_distributions_uniform_and_input() -> None:
    given = {"type": "PREDICTIONS", "task": "cars", "name": "CLASS_DISTRIBUTION"}
    uniform = build_problem(config((given, {"type": "BALANCE", "distribution": "UNIFORM"})), data())
    np.testing.assert_allclose(uniform.objectives[0].target, [1 / 3, 1 / 3, 1 / 3])  # type: ignore[union-attr]
    observed = build_problem(config((given, {"type": "BALANCE", "distribution": "INPUT"})), data())
    np.testing.assert_allclose(observed.objectives[0].target, [2.2 / 3, 0.8 / 3, 0.0])  # type: ignore[union-attr]


def test_unknown_balance_class() -> None:
    cfg = config(
        (
            {"type": "PREDICTIONS", "task": "cars", "name": "CLASS_DISTRIBUTION"},
            {"type": "BALANCE", "target": {"truck": 0.5}},
        )
    )
    fails(
        cfg,
        "selection_config.strategies[0].strategy.target: unknown class 'truck'; available: car, bus, bike",
    )


def test_category_count() -> None:
    given = {"type": "PREDICTIONS", "task": "cars", "name": "CATEGORY_COUNT"}
    (all_objects,) = build_problem(config((given, WEIGHTS)), data()).objectives
    np.testing.assert_allclose(all_objects.weights, [2, 0, 1, 0])  # type: ignore[union-attr]
    restricted = build_problem(config(({**given, "categories": ["bus"]}, WEIGHTS)), data())
    np.testing.assert_allclose(restricted.objectives[0].weights, [1, 0, 0, 0])  # type: ignore[union-attr]
    fails(
        config(({**given, "categories": ["bus", "tram"]}, WEIGHTS)),
        "selection_config.strategies[0].input.categories: unknown category 'tram' of task 'cars'; "
        "available: car, bus, bike",
    )


def test_numeric_metadata_and_lightly_metadata() -> None:
    problem = build_problem(
        config(
            ({"type": "METADATA", "key": "weather.temperature"}, WEIGHTS),
            (
                {"type": "METADATA", "key": "lightly.sharpness"},
                {"type": "THRESHOLD", "threshold": 2, "operation": "BIGGER_EQUAL"},
            ),
        ),
        data(),
    )
    np.testing.assert_allclose(problem.objectives[0].weights, [10, 20, 5, -1])  # type: ignore[union-attr]
    np.testing.assert_allclose(problem.filters[0].values, [1, 2, 3, 4])


def test_categorical_metadata_balance() -> None:
    cfg = config(
        (
            {"type": "METADATA", "key": "weather.description"},
            {"type": "BALANCE", "target": {"sunny": 0.2, "cloudy": 0.4}},
        ),
        ({"type": "METADATA", "key": "night"}, {"type": "BALANCE", "target": {"true": 0.5}}),
    )
    description, night = build_problem(cfg, data()).objectives
    assert isinstance(description, BalanceObjective) and isinstance(night, BalanceObjective)
    assert description.class_names == ["cloudy", "rainy", "sunny"]
    np.testing.assert_array_equal(description.class_vectors, [[0, 0, 1], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(description.target, [0.4, np.nan, 0.2])
    assert night.class_names == ["false", "true"]


def test_a_metadata_class_no_sample_holds_is_a_class_of_none_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = config(
        (
            {"type": "METADATA", "key": "weather.description"},
            {"type": "BALANCE", "target": {"sunny": 0.2, "snowy": 0.3}},
        )
    )
    with caplog.at_level(logging.WARNING):
        (description,) = build_problem(cfg, data()).objectives
    assert isinstance(description, BalanceObjective)
    assert description.class_names == ["cloudy", "rainy", "snowy", "sunny"]
    np.testing.assert_array_equal(description.class_vectors[:, 2], [0, 0, 0, 0])
    np.testing.assert_array_equal(description.target, [np.nan, np.nan, 0.3, 0.2])
    assert (
        "selection_config.strategies[0].strategy.target: no sample has weather.description 'snowy', "
        "so the selection holds none; values held: cloudy, rainy, sunny"
    ) in caplog.text


def test_metadata_of_the_wrong_kind() -> None:
    fails(
        config(({"type": "METADATA", "key": "weather.description"}, WEIGHTS)),
        "selection_config.strategies[0].input.key: metadata 'weather.description' is categorical",
    )
    fails(
        config(
            (
                {"type": "METADATA", "key": "weather.temperature"},
                {"type": "BALANCE", "distribution": "UNIFORM"},
            )
        ),
        "selection_config.strategies[0].input.key: metadata 'weather.temperature' is numeric",
    )
    fails(
        config(
            ({"type": "METADATA", "key": "lightly.sharpness"}, {"type": "BALANCE", "distribution": "UNIFORM"})
        ),
        "is numeric; BALANCE needs a categorical key",
    )


def test_unknown_metadata_keys_list_the_available_ones() -> None:
    # A computed key the run did not compute (the data holds only sharpness); a misspelled
    # `lightly.*` key is refused by the config itself (tests/unit/test_config.py).
    fails(
        config(({"type": "METADATA", "key": "lightly.width"}, WEIGHTS)),
        "selection_config.strategies[0].input.key: unknown Lightly metadata 'lightly.width'; "
        "available: lightly.sharpness",
    )
    fails(
        config(({"type": "METADATA", "key": "wind"}, WEIGHTS)),
        "unknown metadata key 'wind'; available: night, weather.description, weather.temperature",
    )


def test_metadata_samples_are_aligned_by_name_with_defaults() -> None:
    selection_data = data()
    assert selection_data.metadata is not None
    selection_data.metadata = MetadataColumns(
        fields=selection_data.metadata.fields,
        sample_names=["d.png", "a.png"],
        columns={"weather.temperature": np.array([7.0, 3.0])},
    )
    problem = build_problem(
        config(({"type": "METADATA", "key": "weather.temperature"}, WEIGHTS)), selection_data
    )
    np.testing.assert_allclose(problem.objectives[0].weights, [3.0, 0.0, 0.0, 7.0])  # type: ignore[union-attr]


def test_names_as_arrow_strings_give_the_problem_of_a_list() -> None:
    """A run passes `SampleNames` (its metadata names too): the same weights, the same checks."""
    cfg = config(({"type": "METADATA", "key": "weather.temperature"}, WEIGHTS))
    selection_data = data(names=SampleNames(NAMES))
    assert selection_data.metadata is not None
    selection_data.metadata.sample_names = selection_data.names  # as read_metadata keeps them
    problem = build_problem(cfg, selection_data)
    np.testing.assert_allclose(problem.objectives[0].weights, [10.0, 20.0, 5.0, -1.0])  # type: ignore[union-attr]
    assert problem.names is selection_data.names  # shared, not copied
    fails(cfg, "sorted and unique", data(names=SampleNames(["a.png", "c.png", "b.png", "d.png"])))
    fails(cfg, "sorted and unique", data(names=SampleNames(["a.png", "b.png", "b.png", "d.png"])))


def test_random_is_seeded() -> None:
    seeded = build_problem(config(({"type": "RANDOM", "random_seed": 7}, WEIGHTS)), data())
    np.testing.assert_array_equal(seeded.objectives[0].weights, np.random.default_rng(7).random(4))  # type: ignore[union-attr]
    default = build_problem(config(({"type": "RANDOM"}, WEIGHTS)), data(random_seed=3))
    np.testing.assert_array_equal(default.objectives[0].weights, np.random.default_rng(3).random(4))  # type: ignore[union-attr]


def test_embedding_objectives() -> None:
    selection_data = data()
    problem = build_problem(
        config(
            ({"type": "EMBEDDINGS"}, {"type": "DIVERSITY", "stopping_condition_minimum_distance": 0.1}),
            ({"type": "EMBEDDINGS", "task": "cars"}, {"type": "DIVERSITY", "strength": 0.5}),
            ({"type": "EMBEDDINGS", "dataset_id": "ds", "tag_name": "tag"}, {"type": "SIMILARITY"}),
            (
                {"type": "EMBEDDINGS"},
                {
                    "type": "TYPICALITY",
                    "num_nearest_neighbors": 2,
                    "stopping_condition_minimum_typicality": 0.3,
                },
            ),
        ),
        selection_data,
    )
    diversity, objects, similarity, typicality = problem.objectives
    assert isinstance(diversity, DiversityObjective) and diversity.minimum_distance == 0.1
    assert diversity.groups is None
    assert isinstance(objects, DiversityObjective) and objects.strength == 0.5
    np.testing.assert_array_equal(objects.groups, [0, 0, 2])  # type: ignore[arg-type]
    assert isinstance(similarity, WeightsObjective) and similarity.kind == "SIMILARITY"
    assert selection_data.embeddings is not None
    np.testing.assert_allclose(
        similarity.weights, similarity_scores(selection_data.embeddings, np.array([[1.0, 0.0]]))
    )
    assert isinstance(typicality, WeightsObjective) and typicality.kind == "TYPICALITY"
    assert typicality.minimum_value == 0.3
    np.testing.assert_allclose(typicality.weights, typicality_scores(selection_data.embeddings, 2))


def test_embedding_errors() -> None:
    fails(
        config(({"type": "EMBEDDINGS", "dataset_id": "other", "tag_name": "t"}, {"type": "SIMILARITY"})),
        "selection_config.strategies[0].input: no query embeddings for dataset_id 'other' and tag_name 't'; "
        "available: ds/tag",
    )
    fails(
        config(({"type": "EMBEDDINGS", "task": "people"}, {"type": "DIVERSITY"})),
        "selection_config.strategies[0].input.task: no object embeddings for task 'people'; available: cars",
    )
    # Refused earlier, when the config is validated (before any work).
    with pytest.raises(ValidationError, match="works with strategy DIVERSITY only"):
        config(({"type": "EMBEDDINGS", "task": "cars"}, {"type": "TYPICALITY"}))
    fails(
        config(({"type": "EMBEDDINGS"}, {"type": "DIVERSITY"})),
        "needs the candidates' embeddings",
        data(embeddings=None),
    )


def test_non_finite_values_name_the_samples() -> None:
    names = [f"s{i}.png" for i in range(8)]
    embeddings = np.ones((8, 2), dtype=np.float32)
    embeddings[[1, 2, 3, 4, 5, 7], 0] = np.nan
    text = fails(
        config(({"type": "EMBEDDINGS"}, {"type": "DIVERSITY"})),
        "selection_config.strategies[0].input: embeddings holds NaN or inf for 6 samples: "
        "s1.png, s2.png, s3.png, s4.png, s5.png and 1 more",
        SelectionData(names=names, embeddings=embeddings),
    )
    assert "s7.png" not in text
    sharpness = np.array([1.0, np.inf, 2.0, 3.0])
    fails(
        config(({"type": "METADATA", "key": "lightly.sharpness"}, WEIGHTS)),
        "selection_config.strategies[0].input: METADATA lightly.sharpness holds NaN or inf "
        "for 1 sample: b.png",
        data(lightly_metadata={"sharpness": sharpness}),
    )


def test_data_checks_and_preselected() -> None:
    fails(config(({"type": "RANDOM"}, WEIGHTS)), "sorted", data(names=["b.png", "a.png", "c.png", "d.png"]))
    problem = build_problem(
        config(({"type": "RANDOM"}, WEIGHTS), proportion_samples=0.5), data(preselected=np.array([3]))
    )
    assert problem.proportion_samples == 0.5 and problem.n_samples is None
    assert problem.preselected.tolist() == [3]
