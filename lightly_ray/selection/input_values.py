"""Per-candidate values of one selection input: scores, counts, metadata, class vectors, targets."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence, Sized
from typing import Any

import numpy as np
import numpy.typing as npt

from lightly_ray.config.selection import (
    LIGHTLY_METADATA_PREFIX,
    BalanceStrategy,
    MetadataInput,
    PredictionsInput,
    RandomInput,
    ScoresInput,
)
from lightly_ray.errors import SelectionInputError
from lightly_ray.formats.predictions import TaskPredictions
from lightly_ray.sample_names import same_names
from lightly_ray.selection.data import SelectionData
from lightly_ray.selection.finite import finite_rows
from lightly_ray.selection.scorers import (
    UnknownScoreError,
    category_count,
    class_distribution,
    compute_score,
)

MAX_NAMED_SAMPLES = 5

logger = logging.getLogger(__name__)


def numeric_values(selection_input: Any, path: str, data: SelectionData) -> npt.NDArray[np.float64]:
    """The numeric value per candidate of a SCORES, CATEGORY_COUNT, METADATA or RANDOM input."""
    if isinstance(selection_input, ScoresInput):
        task = task_predictions(selection_input.task, f"{path}.input.task", data)
        try:
            return compute_score(task, data.names, selection_input.score)
        except UnknownScoreError as error:
            raise SelectionInputError(
                f"{path}.input.score: unknown score '{selection_input.score}' for task '{task.task_name}' "
                f"({task.schema.task_type.value}); available: {', '.join(error.available)}"
            ) from None
    if isinstance(selection_input, PredictionsInput):
        task = task_predictions(selection_input.task, f"{path}.input.task", data)
        columns = None
        if selection_input.categories is not None:
            columns = _category_columns(selection_input.categories, task, f"{path}.input.categories")
        return category_count(task, data.names, columns)
    if isinstance(selection_input, RandomInput):
        seed = data.random_seed if selection_input.random_seed is None else selection_input.random_seed
        return np.random.default_rng(seed).random(len(data.names))
    if isinstance(selection_input, MetadataInput):
        key = selection_input.key
        if key.startswith(LIGHTLY_METADATA_PREFIX):
            return _lightly_metadata(key, f"{path}.input.key", data)
        numeric, column = metadata_column(key, f"{path}.input.key", data)
        if not numeric:
            raise SelectionInputError(
                f"{path}.input.key: metadata '{key}' is categorical; WEIGHTS and THRESHOLD need a numeric "
                "key (NUMERIC_INT or NUMERIC_FLOAT); use BALANCE for categorical metadata"
            )
        return np.asarray(column, dtype=np.float64)
    raise SelectionInputError(f"{path}.input.type: {selection_input.type} has no numeric values")


def task_predictions(name: str, path: str, data: SelectionData) -> TaskPredictions:
    """The predictions of a task, or an error listing the tasks that exist."""
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
    name = key[len(LIGHTLY_METADATA_PREFIX) :]
    column = data.lightly_metadata.get(name)
    if column is None:
        known = ", ".join(LIGHTLY_METADATA_PREFIX + item for item in sorted(data.lightly_metadata)) or "none"
        raise SelectionInputError(f"{path}: unknown Lightly metadata '{key}'; available: {known}")
    return np.asarray(column, dtype=np.float64)


def metadata_column(key: str, path: str, data: SelectionData) -> tuple[bool, npt.NDArray[Any]]:
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
    if not same_names(metadata.sample_names, data.names):
        position = {name: i for i, name in enumerate(metadata.sample_names)}
        aligned = np.empty(len(data.names), dtype=column.dtype)
        for i, name in enumerate(data.names):
            j = position.get(name)
            aligned[i] = metadata_field.default if j is None else column[j]
        column = aligned
    return metadata_field.value_type.is_numeric, column


# --- classes ----------------------------------------------------------------------------------


def class_vectors(
    selection_input: Any, path: str, data: SelectionData, wanted: Collection[str] = ()
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Class names and per-candidate class vectors of a CLASS_DISTRIBUTION or categorical input.

    A task's classes are its schema's categories. A metadata key's are the values the samples
    hold, and the classes in `wanted` (BALANCE's target) that no sample holds, whose share of
    the selection can only be 0: a warning names them, as a misspelled value looks the same.
    """
    if isinstance(selection_input, PredictionsInput):
        task = task_predictions(selection_input.task, f"{path}.input.task", data)
        return list(task.schema.category_names), class_distribution(task, data.names)
    if isinstance(selection_input, MetadataInput):
        key = selection_input.key
        numeric = key.startswith(LIGHTLY_METADATA_PREFIX)
        column: npt.NDArray[Any] = np.zeros(0)
        if not numeric:
            numeric, column = metadata_column(key, f"{path}.input.key", data)
        if numeric:
            raise SelectionInputError(
                f"{path}.input.key: metadata '{key}' is numeric; BALANCE needs a categorical key "
                "(CATEGORICAL_STRING, CATEGORICAL_INT or CATEGORICAL_BOOLEAN); use WEIGHTS or THRESHOLD"
            )
        labels = np.asarray([_class_name(value) for value in column], dtype=object)
        held = set(labels.tolist())
        absent = sorted(set(wanted) - held)
        if absent:
            logger.warning(
                "%s.strategy.target: no sample has %s %s, so the selection holds none; values held: %s",
                path,
                key,
                " or ".join(map(repr, absent)),
                ", ".join(sorted(held)) or "none",
            )
        class_names = sorted(held.union(absent))
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


def balance_target(
    strategy: BalanceStrategy, class_names: list[str], vectors: npt.NDArray[np.float64], path: str
) -> npt.NDArray[np.float64]:
    """The target per class (NaN for unnamed classes) of a BALANCE strategy."""
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


def require_finite(values: npt.NDArray[Any], names: Sequence[str], path: str, what: str) -> None:
    """Raise naming up to five samples when values hold NaN or inf.

    Rows are checked a slice at a time (`selection.finite`).
    """
    finite = finite_rows(values)
    if finite.all():
        return
    bad = np.flatnonzero(~finite)
    raise SelectionInputError(
        f"{path}: {what} holds NaN or inf for {len(bad)} {_plural('sample', bad)}: {name_list(names, bad)}"
    )


def name_list(names: Sequence[str], indices: npt.NDArray[np.int64]) -> str:
    """Up to five names of the given indices, and how many more there are."""
    shown = ", ".join(names[int(i)] for i in indices[:MAX_NAMED_SAMPLES])
    more = len(indices) - MAX_NAMED_SAMPLES
    return shown + (f" and {more} more" if more > 0 else "")


def _plural(word: str, items: Sized) -> str:
    if len(items) == 1:
        return word
    return word[:-1] + "ies" if word.endswith("y") else word + ("es" if word.endswith("s") else "s")
