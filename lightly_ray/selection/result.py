"""What a selection returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SelectionResult:
    """The outcome of a selection.

    Attributes:
        indices: Newly selected candidate indices, in the order they were picked.
        stop_reason: Why selection stopped, e.g. "budget" or "stopping_condition_minimum_distance".
        budget: How many samples the config allowed (preselected ones included), capped at the
            candidates left after the thresholds.
        strategies: Per objective (config order, thresholds excluded), what it achieved (e.g.
            final minimum distance).
        requested: What the config asked for before capping: n_samples, or
            floor(proportion_samples * n_candidates) (at least 1).
        n_candidates: Candidates entering selection, before the thresholds.
        n_after_thresholds: Candidates that pass every threshold and are not preselected, plus
            the preselected ones (the cap of `budget`).
        thresholds: Per threshold filter (config order): `label`, `n_passed` (candidates it
            keeps on its own) and `n_left` (candidates kept by it and every earlier threshold).
        pick_distances: Per objective (aligned with `problem.objectives`): for DIVERSITY an
            array of shape (len(indices),), float64, the Euclidean distance of each new pick to
            the selected set just before it was picked (NaN while nothing was selected; for
            objects grouped into images, the root of the mean squared distance of its objects);
            None for other objectives.

    """

    indices: np.ndarray
    stop_reason: str
    budget: int
    strategies: list[dict[str, Any]]
    requested: int = 0
    n_candidates: int = 0
    n_after_thresholds: int = 0
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    pick_distances: list[np.ndarray | None] = field(default_factory=list)
