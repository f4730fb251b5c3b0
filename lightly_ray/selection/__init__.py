"""Selection: inputs, strategies and the greedy engine that combines them."""

from lightly_ray.selection.base import (
    SelectionEngine,
    SelectionInputs,
    SelectionResult,
    selection_budget,
)
from lightly_ray.selection.diversity import DiversityEngine, farthest_first

__all__ = [
    "DiversityEngine",
    "SelectionEngine",
    "SelectionInputs",
    "SelectionResult",
    "farthest_first",
    "selection_budget",
]
