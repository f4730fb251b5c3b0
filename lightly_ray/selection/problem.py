"""A selection problem in arrays: what the inputs stage hands to the engine.

`selection/inputs.py` turns the config and the run's data (embeddings, predictions, metadata,
query embeddings) into a `SelectionProblem`; the engine (`selection/engine.py`) solves it.
Candidates are ordered by sample name, so index 0 is the first name and results are
deterministic. Every array is indexed by candidate unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ThresholdOperation = Literal["SMALLER", "SMALLER_EQUAL", "BIGGER", "BIGGER_EQUAL"]


@dataclass(frozen=True)
class ThresholdFilter:
    """A hard filter applied before every objective.

    Attributes:
        label: Where it comes from, for messages, e.g. "strategies[1]: METADATA lightly.sharpness".
        values: Array of shape (n_candidates,), float64.
        threshold: The config's threshold.
        operation: How values compare to the threshold to be kept.
    """

    label: str
    values: np.ndarray
    threshold: float
    operation: ThresholdOperation


@dataclass(frozen=True)
class DiversityObjective:
    """DIVERSITY: farthest-first on embeddings, alone or combined.

    Attributes:
        label: For messages and the report.
        embeddings: Array of shape (n_rows, dim), float32, unit length when the run normalises.
            Without `groups`, row i is candidate i. With `groups`, rows are objects (crops of a
            detection task) and `groups[r]` is the candidate (image) that holds row r:
            an image's diversity is the mean over its objects, and selecting an image adds all
            its objects to the selected set.
        strength: Weight of the objective; negative inverts it.
        minimum_distance: Stop when the best candidate is closer than this (Euclidean).
        groups: Array of shape (n_rows,), int64, or None.
    """

    label: str
    embeddings: np.ndarray
    strength: float = 1.0
    minimum_distance: float | None = None
    groups: np.ndarray | None = None


@dataclass(frozen=True)
class WeightsObjective:
    """WEIGHTS, and the per-candidate scores of SIMILARITY and TYPICALITY, which select like weights.

    Attributes:
        label: For messages and the report.
        kind: "WEIGHTS", "SIMILARITY" or "TYPICALITY" (for the report and stopping conditions).
        weights: Array of shape (n_candidates,), float64, finite.
        strength: Weight of the objective; negative inverts it.
        max_sum: WEIGHTS' stopping_condition_max_sum: stop when the selected weights would sum to
            more than this.
        minimum_value: TYPICALITY's stopping_condition_minimum_typicality: stop when the best
            candidate's value is below this.
    """

    label: str
    kind: Literal["WEIGHTS", "SIMILARITY", "TYPICALITY"]
    weights: np.ndarray
    strength: float = 1.0
    max_sum: float | None = None
    minimum_value: float | None = None


@dataclass(frozen=True)
class BalanceObjective:
    """BALANCE: bring the class distribution of the selection close to a target.

    Attributes:
        label: For messages and the report.
        class_names: The classes, in column order.
        class_vectors: Array of shape (n_candidates, n_classes), float64: one-hot rows for
            categorical metadata, summed class probabilities for CLASS_DISTRIBUTION.
        target: Array of shape (n_classes,): the target fraction of each class, NaN for classes
            the config does not name (unnamed classes do not steer; the remainder of the named
            fractions belongs to all of them together).
        strength: Weight of the objective; negative inverts it.
    """

    label: str
    class_names: list[str]
    class_vectors: np.ndarray
    target: np.ndarray
    strength: float = 1.0


Objective = DiversityObjective | WeightsObjective | BalanceObjective


@dataclass
class SelectionProblem:
    """Everything the engine needs.

    Attributes:
        names: Candidate names, sorted.
        objectives: In config order (thresholds excluded).
        filters: Threshold filters, applied first.
        n_samples: The config's n_samples, or None.
        proportion_samples: The config's proportion_samples, or None.
        preselected: Candidate indices selected by earlier runs (the datapool): they enter the
            selected set first and count toward the budget.
    """

    names: Sequence[str]
    objectives: list[Objective]
    filters: list[ThresholdFilter] = field(default_factory=list)
    n_samples: int | None = None
    proportion_samples: float | None = None
    preselected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
