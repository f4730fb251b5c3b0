"""What a selection returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


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
