"""Explaining a finished selection: what was asked, what each strategy did, why selection stopped.

`explain_selection(config, problem, result)` pairs every strategy of the config with the part of
the problem built from it: a THRESHOLD strategy with the next `problem.filters` entry, any other
strategy with the next `problem.objectives` entry (`inputs.build_problem` keeps both in config
order). The explanation gives report.json's `selection` block (`SelectionExplanation.report`)
and a table of the new picks in pick order with the value each strategy used for them
(`SelectionExplanation.table`, columns described by `SelectionExplanation.columns`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from lightly_ray.config.selection import (
    EmbeddingsInput,
    MetadataInput,
    PredictionsInput,
    RandomInput,
    ScoresInput,
    SelectionConfig,
    StrategyConfig,
)
from lightly_ray.errors import LightlyRayError
from lightly_ray.selection.engine import threshold_mask
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)
from lightly_ray.selection.result import SelectionResult

SHORTFALL_INPUT = "input_smaller_than_requested"
SHORTFALL_THRESHOLDS = "thresholds_left_too_few"
SHORTFALL_STOPPING = "stopping_condition"


class ExplanationError(LightlyRayError, ValueError):
    """The config, problem and result given to `explain_selection` do not belong together."""


@dataclass(frozen=True)
class ExplainedStrategy:
    """One strategy of the config and the part of the problem built from it.

    Attributes:
        index: Position in `selection_config.strategies`.
        config: The strategy's config.
        part: Its threshold filter or objective.
        position: Its position in `problem.filters` (THRESHOLD) or `problem.objectives`.
        input: A short description of its input, e.g. "METADATA lightly.sharpness".
    """

    index: int
    config: StrategyConfig
    part: ThresholdFilter | Objective
    position: int
    input: str

    @property
    def kind(self) -> str:
        """The strategy type, e.g. "DIVERSITY"."""
        return str(self.config.strategy.type)

    @property
    def column(self) -> str:
        """The name of its column in the table of selected samples."""
        if isinstance(self.part, DiversityObjective):
            return f"s{self.index}_diversity_distance"
        if isinstance(self.part, BalanceObjective):
            return f"s{self.index}_balance_class"
        if isinstance(self.part, ThresholdFilter):
            return f"s{self.index}_threshold"
        return f"s{self.index}_{self.part.kind.lower()}"

    @property
    def title(self) -> str:
        """E.g. "strategies[2] (DIVERSITY on EMBEDDINGS)", for messages."""
        return f"strategies[{self.index}] ({self.kind} on {self.input})"


@dataclass(frozen=True)
class SelectionExplanation:
    """A finished selection with every config strategy matched to the problem and the result.

    Attributes:
        problem: The problem that was solved.
        result: What `engine.select` returned for it.
        strategies: One entry per config strategy, in config order.
        passed: Boolean array of shape (n_candidates,): the candidates that pass every threshold.
        unit: What a candidate is, for messages: `sample`, `crop` (object level) or `frame`
            (whole sequences).
    """

    problem: SelectionProblem
    result: SelectionResult
    strategies: list[ExplainedStrategy]
    passed: np.ndarray
    unit: str = "sample"

    @property
    def n_preselected(self) -> int:
        """Samples selected by earlier runs; they count toward the budget."""
        return len(np.unique(np.asarray(self.problem.preselected, dtype=np.int64)))

    def report(self) -> dict[str, Any]:
        """report.json's `selection` block (JSON-serialisable).

        Returns:
            `requested`, `budget`, `nCandidates`, `nAfterThresholds`, `nPreselected`,
            `nSelected` (new picks), `stopReason`, `shortfall` (None when the preselected and
            new samples reach `requested`, else `reason` and `message`) and `strategies`: one
            entry per config strategy in config order (`index`, `strategy`, `input`,
            `stop_reason`; THRESHOLD: `threshold`, `operation`, `nPassed`, `nLeft`,
            `nCandidates`; objectives: the engine's report, WEIGHTS, SIMILARITY and TYPICALITY
            with the value range `selected` of the new picks and `candidates` of every candidate
            that passes the thresholds).
        """
        result = self.result
        return {
            "requested": int(result.requested),
            "budget": int(result.budget),
            "nCandidates": int(result.n_candidates),
            "nAfterThresholds": int(result.n_after_thresholds),
            "nPreselected": self.n_preselected,
            "nSelected": len(result.indices),
            "stopReason": result.stop_reason,
            "shortfall": self.shortfall(),
            "strategies": [self._strategy_report(entry) for entry in self.strategies],
        }

    def shortfall(self) -> dict[str, str] | None:
        """Why fewer samples than requested were selected, or None when none are missing.

        Returns:
            None, or `reason` (`stopping_condition`, `thresholds_left_too_few` or
            `input_smaller_than_requested`) and a plain-English `message` with the numbers.
        """
        result = self.result
        total = self.n_preselected + len(result.indices)
        if total >= result.requested:
            return None
        asked = f"{_count(result.requested, self.unit)} {_was(result.requested)} requested"
        if result.stop_reason != "budget":
            return {"reason": SHORTFALL_STOPPING, "message": f"{asked} but {self._stop_message(total)}"}
        if self.problem.filters and result.n_after_thresholds < result.requested <= result.n_candidates:
            kept = "; ".join(self._kept_by(entry) for entry in self.strategies if entry.kind == "THRESHOLD")
            message = (
                f"{asked} but only {result.n_after_thresholds} of the "
                f"{_count(result.n_candidates, 'candidate')} are left after the THRESHOLD "
                f"strategies ({kept})."
            )
            return {"reason": SHORTFALL_THRESHOLDS, "message": message}
        message = f"{asked} but the input has only {_count(result.n_candidates, 'candidate')}"
        if self.n_preselected:  # the dataset's samples are in the problem too
            new = result.n_candidates - self.n_preselected
            beside = f"beside {self.n_preselected} preselected"
            message = f"{asked} but the input has only {_count(new, 'new candidate')} {beside}"
        if result.n_after_thresholds < result.n_candidates:
            message += f" ({result.n_after_thresholds} after the THRESHOLD strategies)"
        return {"reason": SHORTFALL_INPUT, "message": message + "."}

    def _kept_by(self, entry: ExplainedStrategy) -> str:
        assert isinstance(entry.part, ThresholdFilter)
        n_passed = self.result.thresholds[entry.position]["n_passed"]
        return f"{entry.title} {_condition(entry.part)} keeps {n_passed}"

    def _stop_message(self, total: int) -> str:
        stop_reason = self.result.stop_reason
        preselected = f" ({self.n_preselected} preselected)" if self.n_preselected else ""
        stopped = f"selection stopped after {_count(total, self.unit)}{preselected}"
        for entry in self.strategies:
            if isinstance(entry.part, ThresholdFilter):
                continue
            if self.result.strategies[entry.position].get("stop_reason") == stop_reason:
                value = getattr(entry.config.strategy, stop_reason, None)
                of = f" of {value:g}" if isinstance(value, int | float) else ""
                return f"{stopped}: {entry.title} reached its {stop_reason}{of}."
        return f"{stopped}: {stop_reason}."

    def _strategy_report(self, entry: ExplainedStrategy) -> dict[str, Any]:
        head: dict[str, Any] = {"index": entry.index, "strategy": entry.kind, "input": entry.input}
        part = entry.part
        if isinstance(part, ThresholdFilter):
            counts = self.result.thresholds[entry.position]
            return head | {
                "label": part.label,
                "threshold": float(part.threshold),
                "operation": part.operation,
                "nPassed": int(counts["n_passed"]),
                "nLeft": int(counts["n_left"]),
                "nCandidates": int(self.result.n_candidates),
                "stop_reason": None,
            }
        body = dict(self.result.strategies[entry.position])
        body.pop("strategy", None)
        body.setdefault("stop_reason", None)
        if isinstance(part, WeightsObjective):
            values = np.asarray(part.weights, dtype=np.float64)
            body["selected"] = _value_range(values[self.result.indices])
            body["candidates"] = _value_range(values[self.passed])
        return head | body

    def columns(self) -> dict[str, str]:
        """Column name -> what it holds, for every column of `table`, in table order."""
        described = {"rank": "Pick order: 1 for the first new pick.", "name": "Sample name."}
        for entry in self.strategies:
            part = entry.part
            where = f"{entry.title}: "
            if isinstance(part, ThresholdFilter):
                text = f"the sample's value, kept because it is {_condition(part)}."
            elif isinstance(part, DiversityObjective):
                text = (
                    "Euclidean distance of the sample to the samples selected before it, at pick "
                    "time (empty for the first pick of an empty selection)."
                )
                if part.groups is not None:
                    text = text.replace("Euclidean distance", "root mean squared distance of its objects")
            elif isinstance(part, BalanceObjective):
                text = "the class with the largest entry of the sample's class vector (empty if none)."
            else:
                text = {
                    "WEIGHTS": "the sample's weight.",
                    "SIMILARITY": "the sample's similarity to the query set.",
                    "TYPICALITY": "the sample's typicality.",
                }[part.kind]
            described[entry.column] = where + text
        return described

    def table(self, names: Sequence[str] | None = None) -> pa.Table:
        """The new picks in pick order with the value each strategy used for them.

        Args:
            names: Candidate names (default: `problem.names`).

        Returns:
            Columns `rank` (int32, 1-based), `name` (string) and one per config strategy (see
            `columns`): float64 values, or the string class of a BALANCE; null where a value
            does not exist (the first pick of an empty selection has no distance).
        """
        indices = np.asarray(self.result.indices, dtype=np.int64)
        all_names = self.problem.names if names is None else names
        picked = [all_names[index] for index in indices.tolist()]  # no copy of every name
        arrays: dict[str, pa.Array] = {
            "rank": pa.array(np.arange(1, len(indices) + 1, dtype=np.int32), type=pa.int32()),
            "name": pa.array(picked, type=pa.string()),
        }
        for entry in self.strategies:
            arrays[entry.column] = self._column_values(entry, indices)
        return pa.table(arrays)

    def _column_values(self, entry: ExplainedStrategy, indices: np.ndarray) -> pa.Array:
        part = entry.part
        if isinstance(part, ThresholdFilter):
            return _floats(np.asarray(part.values, dtype=np.float64)[indices])
        if isinstance(part, WeightsObjective):
            return _floats(np.asarray(part.weights, dtype=np.float64)[indices])
        if isinstance(part, DiversityObjective):
            distances = self.result.pick_distances[entry.position]
            if distances is None or len(distances) != len(indices):
                # e.g. sequence selection: the distances are per sequence, the picks per frame.
                distances = np.full(len(indices), np.nan)
            return _floats(np.asarray(distances, dtype=np.float64))
        vectors = np.asarray(part.class_vectors, dtype=np.float64)[indices]
        if vectors.shape[1] == 0:
            return pa.nulls(len(indices), type=pa.string())
        classes = np.asarray(part.class_names, dtype=object)[np.argmax(vectors, axis=1)]
        return pa.array(classes, mask=~(vectors != 0).any(axis=1), type=pa.string())


def explain_selection(
    config: SelectionConfig, problem: SelectionProblem, result: SelectionResult
) -> SelectionExplanation:
    """Match every config strategy to its part of the problem and of the result.

    Args:
        config: The `selection_config` the problem was built from.
        problem: The problem `inputs.build_problem` built from it.
        result: What `engine.select(problem)` returned.

    Returns:
        The explanation.

    Raises:
        ExplanationError: When the strategies do not match the problem's filters and
            objectives in number and kind, or the result was not made for this problem.
    """
    strategies: list[ExplainedStrategy] = []
    n_filters = n_objectives = 0
    for index, strategy_config in enumerate(config.strategies):
        kind = strategy_config.strategy.type
        part: ThresholdFilter | Objective
        if kind == "THRESHOLD":
            if n_filters >= len(problem.filters):
                raise ExplanationError(f"strategies[{index}]: the problem has no threshold filter left")
            part, position = problem.filters[n_filters], n_filters
            n_filters += 1
        else:
            if n_objectives >= len(problem.objectives):
                raise ExplanationError(f"strategies[{index}]: the problem has no objective left")
            part, position = problem.objectives[n_objectives], n_objectives
            n_objectives += 1
            if _objective_kind(part) != kind:
                raise ExplanationError(
                    f"strategies[{index}] is {kind} but the problem's objective {position} is "
                    f"{_objective_kind(part)}"
                )
        described = describe_input(strategy_config)
        strategies.append(ExplainedStrategy(index, strategy_config, part, position, described))
    if n_filters != len(problem.filters) or n_objectives != len(problem.objectives):
        raise ExplanationError(
            f"the config has {n_filters} THRESHOLD and {n_objectives} other strategies, the problem "
            f"{len(problem.filters)} threshold filters and {len(problem.objectives)} objectives"
        )
    if (
        len(result.strategies) != n_objectives
        or len(result.thresholds) != n_filters
        or len(result.pick_distances) != n_objectives
    ):
        raise ExplanationError("the selection result was not made by engine.select for this problem")
    passed = np.ones(len(problem.names), dtype=bool)
    for threshold in problem.filters:
        passed &= threshold_mask(threshold)
    return SelectionExplanation(problem=problem, result=result, strategies=strategies, passed=passed)


def describe_input(strategy_config: StrategyConfig) -> str:
    """A short description of a strategy's input, e.g. "SCORES task.score" or "EMBEDDINGS"."""
    selection_input = strategy_config.input
    if isinstance(selection_input, EmbeddingsInput):
        if selection_input.task is not None:
            return f"EMBEDDINGS objects of {selection_input.task}"
        if selection_input.dataset_id is not None:
            return f"EMBEDDINGS {selection_input.dataset_id}/{selection_input.tag_name}"
        return "EMBEDDINGS"
    if isinstance(selection_input, ScoresInput):
        return f"SCORES {selection_input.task}.{selection_input.score}"
    if isinstance(selection_input, PredictionsInput):
        categories = selection_input.categories
        only = f" ({', '.join(categories)})" if categories else ""
        return f"PREDICTIONS {selection_input.task}.{selection_input.name}{only}"
    if isinstance(selection_input, MetadataInput):
        return f"METADATA {selection_input.key}"
    assert isinstance(selection_input, RandomInput)
    seed = selection_input.random_seed
    return "RANDOM" if seed is None else f"RANDOM seed {seed}"


def _objective_kind(objective: ThresholdFilter | Objective) -> str:
    if isinstance(objective, DiversityObjective):
        return "DIVERSITY"
    if isinstance(objective, BalanceObjective):
        return "BALANCE"
    if isinstance(objective, WeightsObjective):
        return objective.kind
    return "THRESHOLD"


def _condition(threshold: ThresholdFilter) -> str:
    return f"{threshold.operation} {threshold.threshold:g}"


def _value_range(values: np.ndarray) -> dict[str, float | None]:
    if len(values) == 0:
        return {"min": None, "max": None, "mean": None}
    return {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean())}


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=np.isnan(values), type=pa.float64())


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _was(number: int) -> str:
    return "was" if number == 1 else "were"
