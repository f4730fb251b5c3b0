"""From a selection config and the run's data to a `SelectionProblem` (arrays the engine solves).

Rules, per strategy of `selection_config.strategies` (config order is kept for objectives):

- SCORES: the scorer's values (`selection/scorers.py`) as weights or threshold values.
- PREDICTIONS CLASS_DISTRIBUTION: a balance over the task's categories (category-id order) with
  each sample's summed class vectors; CATEGORY_COUNT: the number of predictions per sample,
  restricted to `categories` when given.
- METADATA: a custom schema path (numeric: weights or threshold; categorical: balance with
  one-hot classes named `str(value)`, booleans `true`/`false`, sorted) or `lightly.<name>` from
  the computed Lightly metadata (numeric). Samples absent from the metadata columns take the
  field's default value.
- RANDOM: `numpy.random.default_rng(seed).random(n)`, uniform in [0, 1), seed `random_seed` or
  `SelectionData.random_seed` (default 0).
- EMBEDDINGS: DIVERSITY on the sample embeddings, or with `task` on the task's object embeddings
  grouped by image; SIMILARITY and TYPICALITY (`selection/embedding_scores.py`) as weights.
- BALANCE target: TARGET gives named classes their fraction and NaN to the others; UNIFORM gives
  every class 1 / n_classes; INPUT gives the class distribution of all candidates (the
  normalised sum of their class vectors). A `target` given with UNIFORM or INPUT is ignored.

Every error is a `SelectionInputError` that starts with the config path.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from lightly_ray.config.selection import (
    BalanceStrategy,
    DiversityStrategy,
    EmbeddingsInput,
    MetadataInput,
    PredictionsInput,
    RandomInput,
    ScoresInput,
    SelectionConfig,
    StrategyConfig,
    ThresholdStrategy,
    TypicalityStrategy,
    WeightsStrategy,
)
from lightly_ray.errors import SelectionInputError
from lightly_ray.sample_names import SampleNames
from lightly_ray.selection.data import ColumnsAtRows, ObjectEmbeddings, SelectionData
from lightly_ray.selection.embedding_scores import similarity_scores, typicality_scores
from lightly_ray.selection.input_values import (
    MAX_NAMED_SAMPLES,
    balance_target,
    class_vectors,
    name_list,
    numeric_values,
    require_finite,
)
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)

__all__ = ["ObjectEmbeddings", "SelectionData", "SelectionInputError", "build_problem"]


def build_problem(config: SelectionConfig, data: SelectionData) -> SelectionProblem:
    """Turn the selection config and the run's data into arrays for the engine.

    Args:
        config: The validated `selection_config`.
        data: The run's per-candidate data.

    Returns:
        The problem: objectives in config order, threshold filters apart.

    Raises:
        SelectionInputError: When an input names something the data does not hold, has the
            wrong kind for its strategy, or holds non-finite values.
    """
    _check_data(data)
    objectives: list[Objective] = []
    filters: list[ThresholdFilter] = []
    for index, strategy_config in enumerate(config.strategies):
        built = _build_strategy(strategy_config, f"selection_config.strategies[{index}]", index, data)
        if isinstance(built, ThresholdFilter):
            filters.append(built)
        else:
            objectives.append(built)
    return SelectionProblem(
        names=data.names,  # shared with the data, not a copy (8 bytes a candidate)
        objectives=objectives,
        filters=filters,
        n_samples=config.n_samples,
        proportion_samples=config.proportion_samples,
        preselected=np.asarray(data.preselected, dtype=np.int64),
    )


def _check_data(data: SelectionData) -> None:
    names = data.names
    if isinstance(names, SampleNames):
        ascending = names.strictly_ascending()  # in Arrow: no Python string per name
    else:
        ascending = not any(a >= b for a, b in pairwise(names))
    if not ascending:
        raise SelectionInputError("candidate names must be sorted and unique")
    if data.embeddings is not None and len(data.embeddings) != len(names):
        raise SelectionInputError(f"got {len(data.embeddings)} embeddings for {len(names)} candidates")
    metadata = data.lightly_metadata
    for name in metadata:  # columns read at rows have the rows' length: they are not read here
        count = metadata.row_count if isinstance(metadata, ColumnsAtRows) else len(metadata[name])
        if count != len(names):
            raise SelectionInputError(f"lightly metadata '{name}' has {count} values for {len(names)}")
    preselected = np.asarray(data.preselected)
    if preselected.size and (preselected.min() < 0 or preselected.max() >= len(names)):
        raise SelectionInputError(f"preselected indices must be in [0, {len(names)})")


def _build_strategy(
    strategy_config: StrategyConfig, path: str, index: int, data: SelectionData
) -> Objective | ThresholdFilter:
    selection_input = strategy_config.input
    strategy = strategy_config.strategy
    if isinstance(selection_input, EmbeddingsInput):
        return _embeddings_objective(selection_input, strategy_config, path, index, data)
    what = _describe_input(selection_input)
    label = f"strategies[{index}]: {what}"
    if isinstance(strategy, BalanceStrategy):
        wanted = (strategy.target or {}) if strategy.distribution == "TARGET" else {}
        class_names, vectors = class_vectors(selection_input, path, data, wanted)
        require_finite(vectors, data.names, f"{path}.input", what)
        target = balance_target(strategy, class_names, vectors, f"{path}.strategy")
        return BalanceObjective(
            label=label,
            class_names=class_names,
            class_vectors=vectors,
            target=target,
            strength=strategy.strength,
        )
    values = numeric_values(selection_input, path, data)
    require_finite(values, data.names, f"{path}.input", what)
    if isinstance(strategy, ThresholdStrategy):
        return ThresholdFilter(
            label=label, values=values, threshold=strategy.threshold, operation=strategy.operation
        )
    if isinstance(strategy, WeightsStrategy):
        return WeightsObjective(
            label=label,
            kind="WEIGHTS",
            weights=values,
            strength=strategy.strength,
            max_sum=strategy.stopping_condition_max_sum,
        )
    raise SelectionInputError(
        f"{path}.strategy.type: {strategy.type} cannot use input {selection_input.type}"
    )


def _describe_input(selection_input: Any) -> str:
    if isinstance(selection_input, ScoresInput):
        return f"SCORES {selection_input.task}.{selection_input.score}"
    if isinstance(selection_input, PredictionsInput):
        return f"PREDICTIONS {selection_input.task}.{selection_input.name}"
    if isinstance(selection_input, MetadataInput):
        return f"METADATA {selection_input.key}"
    if isinstance(selection_input, RandomInput):
        return "RANDOM"
    return str(selection_input.type)


# --- embeddings -------------------------------------------------------------------------------


def _embeddings_objective(
    selection_input: EmbeddingsInput,
    strategy_config: StrategyConfig,
    path: str,
    index: int,
    data: SelectionData,
) -> Objective:
    strategy = strategy_config.strategy
    embeddings = data.embeddings
    if embeddings is None:
        raise SelectionInputError(
            f"{path}.input: EMBEDDINGS needs the candidates' embeddings, none were given"
        )
    label = f"strategies[{index}]: EMBEDDINGS"
    if selection_input.task is not None:
        return _object_diversity(selection_input.task, strategy_config, path, label, data)
    require_finite(embeddings, data.names, f"{path}.input", "embeddings")
    if isinstance(strategy, DiversityStrategy):
        return DiversityObjective(
            label=label,
            embeddings=embeddings,
            strength=strategy.strength,
            minimum_distance=strategy.stopping_condition_minimum_distance,
        )
    if isinstance(strategy, TypicalityStrategy):
        return WeightsObjective(
            label=label,
            kind="TYPICALITY",
            weights=typicality_scores(embeddings, strategy.num_nearest_neighbors),
            strength=strategy.strength,
            minimum_value=strategy.stopping_condition_minimum_typicality,
        )
    if (
        strategy.type != "SIMILARITY"
        or selection_input.dataset_id is None
        or selection_input.tag_name is None
    ):
        raise SelectionInputError(f"{path}.strategy.type: {strategy.type} cannot use input EMBEDDINGS")
    key = (selection_input.dataset_id, selection_input.tag_name)
    queries = data.query_embeddings.get(key)
    if queries is None:
        known = ", ".join(f"{dataset}/{tag}" for dataset, tag in sorted(data.query_embeddings)) or "none"
        raise SelectionInputError(
            f"{path}.input: no query embeddings for dataset_id '{key[0]}' and tag_name '{key[1]}'; "
            f"available: {known}"
        )
    if len(queries) == 0:
        raise SelectionInputError(f"{path}.input: the query tag '{key[1]}' of dataset '{key[0]}' is empty")
    queries = np.asarray(queries)
    if queries.ndim != 2 or queries.shape[1] != embeddings.shape[1]:
        raise SelectionInputError(
            f"{path}.input: query embeddings have shape {queries.shape}, expected (n, {embeddings.shape[1]})"
        )
    bad = ~np.isfinite(queries).all(axis=1)
    if bad.any():
        rows = ", ".join(str(row) for row in np.flatnonzero(bad)[:MAX_NAMED_SAMPLES])
        raise SelectionInputError(f"{path}.input: query embeddings hold NaN or inf in rows {rows}")
    return WeightsObjective(
        label=f"{label} {key[0]}/{key[1]}",
        kind="SIMILARITY",
        weights=similarity_scores(embeddings, queries),
        strength=strategy.strength,
    )


def _object_diversity(
    task: str, strategy_config: StrategyConfig, path: str, label: str, data: SelectionData
) -> DiversityObjective:
    strategy = strategy_config.strategy
    if not isinstance(strategy, DiversityStrategy):
        raise SelectionInputError(
            f"{path}.input.task: object embeddings only work with DIVERSITY, not {strategy.type}"
        )
    objects = data.object_embeddings.get(task)
    if objects is None:
        known = ", ".join(sorted(data.object_embeddings)) or "none"
        raise SelectionInputError(
            f"{path}.input.task: no object embeddings for task '{task}'; available: {known}"
        )
    groups = np.asarray(objects.candidate_index, dtype=np.int64)
    if len(groups) != len(objects.embeddings) or (
        groups.size and (groups.min() < 0 or groups.max() >= len(data.names))
    ):
        raise SelectionInputError(
            f"{path}.input.task: object embeddings of task '{task}' do not match the candidates"
        )
    bad = ~np.isfinite(objects.embeddings).all(axis=1)
    if bad.any():
        names = name_list(data.names, np.unique(groups[bad]))
        raise SelectionInputError(
            f"{path}.input: object embeddings of task '{task}' hold NaN or inf for {names}"
        )
    return DiversityObjective(
        label=f"{label} objects of {task}",
        embeddings=objects.embeddings,
        strength=strategy.strength,
        minimum_distance=strategy.stopping_condition_minimum_distance,
        groups=groups,
    )
