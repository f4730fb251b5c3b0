"""Histograms and summaries in report.json: numbers for the page and for people reading the JSON.

Histograms of several sets share their bin edges, so the page can draw them over each other and a
reader can compare counts bin by bin. Categorical values are counted, the most common first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

BINS = 30
TOP_CATEGORIES = 20
DIGITS = 6


def summary(values: np.ndarray) -> dict[str, float | int | None]:
    """Count, min, percentiles, mean and max of the finite values (None when there are none)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) == 0:
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None}
    p10, median, p90 = np.percentile(finite, [10, 50, 90])
    return {
        "count": len(finite),
        "min": _round(finite.min()),
        "p10": _round(p10),
        "median": _round(median),
        "mean": _round(finite.mean()),
        "p90": _round(p90),
        "max": _round(finite.max()),
    }


def histogram_block(sets: Mapping[str, np.ndarray], bins: int = BINS) -> dict[str, Any]:
    """Counts per set over shared bin edges (finite values only).

    Returns:
        `{"edges": [...], "counts": {set: [...]}}`; no edges when no set has a finite value.
    """
    cleaned = {name: _finite(values) for name, values in sets.items()}
    everything = np.concatenate([values for values in cleaned.values()] or [np.zeros(0)])
    if len(everything) == 0:
        return {"edges": [], "counts": {name: [] for name in cleaned}}
    low, high = float(everything.min()), float(everything.max())
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    return {
        "edges": [_round(edge) for edge in edges],
        "counts": {name: np.histogram(values, bins=edges)[0].tolist() for name, values in cleaned.items()},
    }


def category_block(sets: Mapping[str, np.ndarray], top: int = TOP_CATEGORIES) -> dict[str, Any]:
    """Counts of each category per set; the `top` most common of the first set, the rest as "other".

    Args:
        sets: Per set, an array of category values (any hashable; printed with `str`).
        top: How many categories are kept by name.

    Returns:
        `{"categories": [...], "counts": {set: [...]}}` in the order of `categories`.
    """
    counted = {name: Counter(str(value) for value in values.tolist()) for name, values in sets.items()}
    first = next(iter(counted.values()), Counter())
    ranked = [category for category, _ in first.most_common()]
    for counts in counted.values():
        ranked += sorted(category for category in counts if category not in first)
    kept = ranked[:top]
    block: dict[str, Any] = {"categories": list(kept), "counts": {}}
    other = len(ranked) > top
    if other:
        block["categories"].append("other")
    for name, counts in counted.items():
        row = [counts.get(category, 0) for category in kept]
        if other:
            row.append(sum(counts.values()) - sum(row))
        block["counts"][name] = row
    return block


def _finite(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]


def _round(value: float) -> float:
    return round(float(value), DIGITS)


__all__ = ["category_block", "histogram_block", "summary"]
