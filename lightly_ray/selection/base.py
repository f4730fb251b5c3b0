"""What every selection engine takes and returns, and how the budget is computed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lightly_ray.config.selection import SelectionConfig


@dataclass(frozen=True)
class SelectionInputs:
    """The per-candidate data selection works on, ordered by sample name.

    Attributes:
        names: Candidate names, sorted; index i of every array is names[i].
        embeddings: Array of shape (n_candidates, dim), float32.
        preselected: Indices selected before this run (the datapool); they count toward the budget.

    """

    names: list[str]
    embeddings: np.ndarray
    preselected: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class SelectionResult:
    """The outcome of a selection.

    Attributes:
        indices: Newly selected candidate indices, in the order they were picked.
        stop_reason: Why selection stopped, e.g. "budget" or "stopping_condition_minimum_distance".
        budget: How many samples the config allowed (preselected ones included).
        strategies: Per strategy, what it achieved (e.g. final minimum distance).

    """

    indices: np.ndarray
    stop_reason: str
    budget: int
    strategies: list[dict[str, Any]]


class SelectionEngine(Protocol):
    """Anything that selects samples for a selection config."""

    def select(self, inputs: SelectionInputs, config: SelectionConfig) -> SelectionResult:
        """Select samples; see SelectionResult."""
        ...


def selection_budget(config: SelectionConfig, n_candidates: int) -> int:
    """The number of samples to select, preselected ones included, capped at the candidates.

    `proportion_samples` is a fraction of the candidates, rounded down (at least one).
    """
    if config.n_samples is not None:
        wanted = config.n_samples
    else:
        assert config.proportion_samples is not None  # guaranteed by SelectionConfig
        wanted = max(1, math.floor(config.proportion_samples * n_candidates + 1e-9))
    return min(wanted, n_candidates)
