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

from collections.abc import Sequence, Sized
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

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
from lightly_ray.errors import LightlyRayError
from lightly_ray.formats.metadata import MetadataColumns
from lightly_ray.formats.predictions import TaskPredictions
from lightly_ray.selection.embedding_scores import similarity_scores, typicality_scores
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)
from lightly_ray.selection.scorers import (
    UnknownScoreError,
    category_count,
    class_distribution,
    compute_score,
)

LIGHTLY_PREFIX = "lightly."
MAX_NAMED_SAMPLES = 5


class SelectionInputError(LightlyRayError, ValueError):
    """A strategy's input cannot be built from the run's data (unknown task, score, key, class...)."""


@dataclass(frozen=True)
class ObjectEmbeddings:
    """Embeddings of a detection task's objects (crops), for EMBEDDINGS with `task`.

    Attributes:
        embeddings: Array of shape (n_objects, dim), float32.
        candidate_index: Array of shape (n_objects,), int64: the candidate (image) of each object.
    """

    embeddings: np.ndarray
    candidate_index: np.ndarray


@dataclass
class SelectionData:
    """Everything known per candidate, ordered by candidate name.

    Attributes:
        names: Candidate names, sorted and unique; index i of every array is names[i].
        embeddings: Array of shape (n, dim), float32, or None when no strategy uses them.
        object_embeddings: By task name.
        query_embeddings: By (dataset_id, tag_name): arrays of shape (n_queries, dim).
        predictions: By task name (including `lightly_pretagging` when run).
        metadata: Custom metadata columns, or None without a schema.
        lightly_metadata: Computed Lightly metadata by name (`sharpness`, ...): arrays of shape (n,).
        random_seed: Seed of RANDOM inputs without `random_seed`.
        preselected: Candidate indices selected by earlier runs, int64.
    """

    names: list[str]
    embeddings: np.ndarray | None = None
    object_embeddings: dict[str, ObjectEmbeddings] = field(default_factory=dict)
    query_embeddings: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    predictions: dict[str, TaskPredictions] = field(default_factory=dict)
    metadata: MetadataColumns | None = None
    lightly_metadata: dict[str, np.ndarray] = field(default_factory=dict)
    random_seed: int = 0
    preselected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


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
        names=list(data.names),
        objectives=objectives,
        filters=filters,
        n_samples=config.n_samples,
        proportion_samples=config.proportion_samples,
        preselected=np.asarray(data.preselected, dtype=np.int64),
    )


def _check_data(data: SelectionData) -> None:
    names = data.names
    if any(a >= b for a, b in pairwise(names)):
        raise SelectionInputError("candidate names must be sorted and unique")
    if data.embeddings is not None and len(data.embeddings) != len(names):
        raise SelectionInputError(f"got {len(data.embeddings)} embeddings for {len(names)} candidates")
    for name, column in data.lightly_metadata.items():
        if len(column) != len(names):
            raise SelectionInputError(f"lightly metadata '{name}' has {len(column)} values for {len(names)}")
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
        class_names, vectors = _class_vectors(selection_input, path, data)
        _require_finite(vectors, data.names, f"{path}.input", what)
        target = _balance_target(strategy, class_names, vectors, f"{path}.strategy")
        return BalanceObjective(
            label=label,
            class_names=class_names,
            class_vectors=vectors,
            target=target,
            strength=strategy.strength,
        )
    values = _numeric_values(selection_input, path, data)
    _require_finite(values, data.names, f"{path}.input", what)
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
    _require_finite(embeddings, data.names, f"{path}.input", "embeddings")
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
        names = _name_list(data.names, np.unique(groups[bad]))
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


# --- numeric values ---------------------------------------------------------------------------


def _numeric_values(selection_input: Any, path: str, data: SelectionData) -> npt.NDArray[np.float64]:
    if isinstance(selection_input, ScoresInput):
        task = _task(selection_input.task, f"{path}.input.task", data)
        try:
            return compute_score(task, data.names, selection_input.score)
        except UnknownScoreError as error:
            raise SelectionInputError(
                f"{path}.input.score: unknown score '{selection_input.score}' for task '{task.task_name}' "
                f"({task.schema.task_type.value}); available: {', '.join(error.available)}"
            ) from None
    if isinstance(selection_input, PredictionsInput):
        task = _task(selection_input.task, f"{path}.input.task", data)
        columns = None
        if selection_input.categories is not None:
            columns = _category_columns(selection_input.categories, task, f"{path}.input.categories")
        return category_count(task, data.names, columns)
    if isinstance(selection_input, RandomInput):
        seed = data.random_seed if selection_input.random_seed is None else selection_input.random_seed
        return np.random.default_rng(seed).random(len(data.names))
    if isinstance(selection_input, MetadataInput):
        key = selection_input.key
        if key.startswith(LIGHTLY_PREFIX):
            return _lightly_metadata(key, f"{path}.input.key", data)
        numeric, column = _metadata_column(key, f"{path}.input.key", data)
        if not numeric:
            raise SelectionInputError(
                f"{path}.input.key: metadata '{key}' is categorical; WEIGHTS and THRESHOLD need a numeric "
                "key (NUMERIC_INT or NUMERIC_FLOAT); use BALANCE for categorical metadata"
            )
        return np.asarray(column, dtype=np.float64)
    raise SelectionInputError(f"{path}.input.type: {selection_input.type} has no numeric values")


def _task(name: str, path: str, data: SelectionData) -> TaskPredictions:
    task = data.predictions.get(name)
    if task is None:
        known = ", ".join(sorted(data.predictions)) or "none"
        raise SelectionInputError(f"{path}: unknown task '{name}'; available: {known}")
    return task


def _category_columns(categories: Sequence[str], task: TaskPredictions, path: str) -> list[int]:
    names = task.schema.category_names
    unknown = [name for name in categories if name not in names]
    if unknown:
        raise SelectionInputError(
            f"{path}: unknown {_plural('category', unknown)} {', '.join(repr(n) for n in unknown)} of task "
            f"'{task.task_name}'; available: {', '.join(names)}"
        )
    return [names.index(name) for name in categories]


def _lightly_metadata(key: str, path: str, data: SelectionData) -> npt.NDArray[np.float64]:
    name = key[len(LIGHTLY_PREFIX) :]
    column = data.lightly_metadata.get(name)
    if column is None:
        known = ", ".join(LIGHTLY_PREFIX + known for known in sorted(data.lightly_metadata)) or "none"
        raise SelectionInputError(f"{path}: unknown Lightly metadata '{key}'; available: {known}")
    return np.asarray(column, dtype=np.float64)


def _metadata_column(key: str, path: str, data: SelectionData) -> tuple[bool, npt.NDArray[Any]]:
    """Whether the custom metadata key is numeric, and its values aligned with the candidates."""
    metadata = data.metadata
    fields = {} if metadata is None else {item.path: item for item in metadata.fields}
    if metadata is None or key not in fields:
        known = ", ".join(sorted(fields)) or "none"
        raise SelectionInputError(
            f"{path}: unknown metadata key '{key}'; available: {known} "
            "(computed metadata: lightly.<name>, e.g. lightly.sharpness)"
        )
    metadata_field = fields[key]
    column = metadata.columns[key]
    if metadata.sample_names != data.names:
        position = {name: i for i, name in enumerate(metadata.sample_names)}
        aligned = np.empty(len(data.names), dtype=column.dtype)
        for i, name in enumerate(data.names):
            j = position.get(name)
            aligned[i] = metadata_field.default if j is None else column[j]
        column = aligned
    return metadata_field.value_type.is_numeric, column


# --- classes ----------------------------------------------------------------------------------


def _class_vectors(
    selection_input: Any, path: str, data: SelectionData
) -> tuple[list[str], npt.NDArray[np.float64]]:
    if isinstance(selection_input, PredictionsInput):
        task = _task(selection_input.task, f"{path}.input.task", data)
        return list(task.schema.category_names), class_distribution(task, data.names)
    if isinstance(selection_input, MetadataInput):
        key = selection_input.key
        numeric = key.startswith(LIGHTLY_PREFIX)
        column: npt.NDArray[Any] = np.zeros(0)
        if not numeric:
            numeric, column = _metadata_column(key, f"{path}.input.key", data)
        if numeric:
            raise SelectionInputError(
                f"{path}.input.key: metadata '{key}' is numeric; BALANCE needs a categorical key "
                "(CATEGORICAL_STRING, CATEGORICAL_INT or CATEGORICAL_BOOLEAN); use WEIGHTS or THRESHOLD"
            )
        labels = np.asarray([_class_name(value) for value in column], dtype=object)
        class_names = sorted(set(labels.tolist()))
        index = {name: i for i, name in enumerate(class_names)}
        codes = np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))
        vectors = np.zeros((len(labels), len(class_names)), dtype=np.float64)
        vectors[np.arange(len(labels)), codes] = 1.0
        return class_names, vectors
    raise SelectionInputError(f"{path}.input.type: {selection_input.type} has no classes for BALANCE")


def _class_name(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def _balance_target(
    strategy: BalanceStrategy, class_names: list[str], vectors: npt.NDArray[np.float64], path: str
) -> npt.NDArray[np.float64]:
    n_classes = len(class_names)
    if n_classes == 0:
        raise SelectionInputError(f"{path}: BALANCE needs at least one class, the input has none")
    if strategy.distribution == "UNIFORM":
        return np.full(n_classes, 1.0 / n_classes)
    if strategy.distribution == "INPUT":
        totals = vectors.sum(axis=0)
        if totals.sum() <= 0.0:
            raise SelectionInputError(
                f"{path}.distribution: INPUT needs a class distribution, but no candidate has any class"
            )
        return np.asarray(totals / totals.sum(), dtype=np.float64)
    target = np.full(n_classes, np.nan)
    requested = strategy.target or {}
    unknown = [name for name in requested if name not in class_names]
    if unknown:
        raise SelectionInputError(
            f"{path}.target: unknown {_plural('class', unknown)} {', '.join(repr(n) for n in unknown)}; "
            f"available: {', '.join(class_names)}"
        )
    for name, fraction in requested.items():
        target[class_names.index(name)] = fraction
    return target


# --- checks -----------------------------------------------------------------------------------


def _require_finite(values: npt.NDArray[Any], names: Sequence[str], path: str, what: str) -> None:
    finite = np.isfinite(values)
    if finite.ndim > 1:
        finite = finite.all(axis=tuple(range(1, finite.ndim)))
    if finite.all():
        return
    bad = np.flatnonzero(~finite)
    raise SelectionInputError(
        f"{path}: {what} holds NaN or inf for {len(bad)} {_plural('sample', bad)}: {_name_list(names, bad)}"
    )


def _name_list(names: Sequence[str], indices: npt.NDArray[np.int64]) -> str:
    shown = ", ".join(names[int(i)] for i in indices[:MAX_NAMED_SAMPLES])
    more = len(indices) - MAX_NAMED_SAMPLES
    return shown + (f" and {more} more" if more > 0 else "")


def _plural(word: str, items: Sized) -> str:
    if len(items) == 1:
        return word
    return word[:-1] + "ies" if word.endswith("y") else word + ("es" if word.endswith("s") else "s")
