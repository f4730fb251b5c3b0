"""The per-objective state of the greedy engine: log potentials of every candidate, updated per pick.

Each state answers two questions for the engine (`selection/engine.py`): "what is
`log(potential(S + {c}))` for every candidate c?" and "c was picked: update". Everything is
float64. The formulas are in `docs/selection.md`; in short:

- diversity: `A(S) + m_c`, `A(S)` the sum over selected i of the squared distance to the nearest
  other selected sample (0 for a lone sample), `m_c` the squared distance of c to S. With S empty
  the term is left out (it is the same for every candidate).
- weights: `sum_{i in S} w_i + w_c`.
- balance: `1 / (1 + KL(t || p))` in bits, p the normalised class sum of S + {c}, clipped to 1e-10.

`log` of a potential <= 0 is -inf (as in lightly-mundig).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lightly_ray.selection.problem import BalanceObjective, DiversityObjective, WeightsObjective

#: Probabilities of the achieved class distribution are clipped to this before the KL divergence.
PROBABILITY_FLOOR = 1e-10


def safe_log(values: np.ndarray) -> np.ndarray:
    """Natural log, -inf for values <= 0 (never NaN).

    Args:
        values: Array of any shape, float64.

    Returns:
        Array of the same shape.

    """
    out = np.full(values.shape, -np.inf)
    positive = values > 0
    out[positive] = np.log(values[positive])
    return out


def update_and_score(
    points: np.ndarray, picked_rows: np.ndarray, min_sq: np.ndarray, candidate_rows: np.ndarray
) -> np.ndarray:
    """Lower the squared distances to the selected set by new rows, then score candidate rows.

    This is the diversity engine's hot step; a compiled kernel can replace it with the same
    signature.

    Args:
        points: Array of shape (n_rows, dim), float64.
        picked_rows: Array of shape (k,), int64: rows that just joined the selected set.
        min_sq: Array of shape (n_rows,), float64: squared distance of each row to the selected
            set (inf when empty); updated in place.
        candidate_rows: Array of shape (m,), int64: rows whose squared distance is wanted.

    Returns:
        Array of shape (m,): `min_sq[candidate_rows]` after the update.

    """
    for row in picked_rows:
        difference = points - points[row]
        np.minimum(min_sq, np.einsum("ij,ij->i", difference, difference), out=min_sq)
    return np.asarray(min_sq[candidate_rows])


class DiversityState:
    """Farthest-first potential, on plain embeddings or on objects grouped into images."""

    def __init__(self, objective: DiversityObjective, n_candidates: int) -> None:
        self.objective = objective
        self.points = np.asarray(objective.embeddings, dtype=np.float64)
        n_rows = len(self.points)
        if objective.groups is None:
            self.groups = np.arange(n_rows, dtype=np.int64)
        else:
            self.groups = np.asarray(objective.groups, dtype=np.int64)
        #: rows of each candidate; empty for candidates without objects.
        order = np.argsort(self.groups, kind="stable")
        bounds = np.searchsorted(self.groups[order], np.arange(n_candidates + 1))
        self.rows_of = [order[bounds[c] : bounds[c + 1]] for c in range(n_candidates)]
        self.counts = np.bincount(self.groups, minlength=n_candidates).astype(np.float64)
        self.min_sq = np.full(n_rows, np.inf)
        #: squared distance of each selected row to the nearest other selected row (inf if none).
        self.nearest_other = np.full(n_rows, np.inf)
        self.selected_rows = np.zeros(n_rows, dtype=bool)
        self.selected: list[int] = []
        self.base = 0.0
        #: per `add` call, in call order: the distance of the added candidate to the selected set
        #: before it (NaN while nothing was selected).
        self.add_distances: list[float] = []

    def terms(self, candidates: np.ndarray) -> np.ndarray:
        """Each candidate's term: mean over its rows of the squared distance to the selected rows.

        Args:
            candidates: Array of shape (m,), int64.

        Returns:
            Array of shape (m,); inf while nothing is selected, 0 for candidates without rows.

        """
        if self.objective.groups is None:
            return np.asarray(self.min_sq[candidates])
        sums = np.bincount(self.groups, weights=np.where(np.isinf(self.min_sq), 0.0, self.min_sq))
        sums = np.concatenate([sums, np.zeros(max(0, len(self.counts) - len(sums)))])
        means = np.divide(sums, self.counts, out=np.zeros_like(sums), where=self.counts > 0)
        if not self.selected_rows.any():
            means[self.counts > 0] = np.inf
        return np.asarray(means[candidates])

    def log_potentials(self, candidates: np.ndarray) -> np.ndarray:
        """`log(A(S) + term_c)`; while no row is selected, 0 (or -inf for candidates without rows).

        Args:
            candidates: Array of shape (m,), int64.

        Returns:
            Array of shape (m,).

        """
        if not self.selected_rows.any():
            # Every row is infinitely far from the (empty) selected rows: the same for all
            # candidates with rows, left out; a candidate without rows has potential A + 0 = 0.
            return np.where(self.counts[candidates] > 0, 0.0, -np.inf)
        return safe_log(self.base + self.terms(candidates))

    def add(self, candidate: int) -> None:
        """Add a candidate (all its rows) to the selected set."""
        if self.selected_rows.any():
            self.add_distances.append(float(np.sqrt(self.terms(np.array([candidate]))[0])))
        else:
            self.add_distances.append(math.nan)
        rows = self.rows_of[candidate]
        for row in rows:
            others = np.flatnonzero(self.selected_rows)
            difference = self.points[others] - self.points[row]
            squared = np.einsum("ij,ij->i", difference, difference)
            self.nearest_other[others] = np.minimum(self.nearest_other[others], squared)
            self.nearest_other[row] = float(squared.min(initial=np.inf))
            self.selected_rows[row] = True
        update_and_score(self.points, rows, self.min_sq, rows)
        self.selected.append(candidate)
        self.base = self._base()

    def _base(self) -> float:
        finite = np.where(np.isinf(self.nearest_other), 0.0, self.nearest_other)
        if self.objective.groups is None:
            return float(finite[self.selected_rows].sum())
        total = 0.0
        for candidate in self.selected:
            rows = self.rows_of[candidate]
            if len(rows):
                total += float(finite[rows].mean())
        return total

    def report(self) -> dict[str, Any]:
        """What the objective achieved."""
        selected = self.nearest_other[self.selected_rows]
        pairwise = float(np.sqrt(selected.min())) if len(selected) and np.isfinite(selected.min()) else None
        final = self.add_distances[-1] if self.add_distances else math.nan
        return {
            "strategy": "DIVERSITY",
            "label": self.objective.label,
            "strength": self.objective.strength,
            "stopping_condition_minimum_distance": self.objective.minimum_distance,
            "final_minimum_distance": None if math.isnan(final) else final,
            "minimum_pairwise_distance": pairwise,
        }


class WeightsState:
    """Sum-of-weights potential (WEIGHTS, SIMILARITY, TYPICALITY)."""

    def __init__(self, objective: WeightsObjective) -> None:
        self.objective = objective
        self.weights = np.asarray(objective.weights, dtype=np.float64)
        self.total = 0.0
        self.count = 0
        self.minimum = np.inf

    def log_potentials(self, candidates: np.ndarray) -> np.ndarray:
        """`log(sum_S w + w_c)`; -inf where that is <= 0.

        Args:
            candidates: Array of shape (m,), int64.

        Returns:
            Array of shape (m,).

        """
        return safe_log(self.total + self.weights[candidates])

    def add(self, candidate: int) -> None:
        """Add a candidate to the selected set."""
        self.total += float(self.weights[candidate])
        self.count += 1
        self.minimum = min(self.minimum, float(self.weights[candidate]))

    def report(self) -> dict[str, Any]:
        """What the objective achieved."""
        return {
            "strategy": self.objective.kind,
            "label": self.objective.label,
            "strength": self.objective.strength,
            "stopping_condition_max_sum": self.objective.max_sum,
            "stopping_condition_minimum_value": self.objective.minimum_value,
            "sum": self.total,
            "mean": self.total / self.count if self.count else None,
            "minimum": self.minimum if self.count else None,
        }


def balance_columns(objective: BalanceObjective) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Merge the unnamed classes into one "other" column and complete the target.

    Named classes keep their columns and fractions. All classes with a NaN target are summed into
    one extra column whose target is the remainder `1 - sum(named)` (at least 0). With no unnamed
    class the named fractions are rescaled to sum to 1 (the remainder has nowhere to go).

    Args:
        objective: The BALANCE objective.

    Returns:
        (class vectors of shape (n_candidates, n_columns), target of shape (n_columns,) summing
        to 1, column names).

    """
    vectors = np.asarray(objective.class_vectors, dtype=np.float64)
    target = np.asarray(objective.target, dtype=np.float64)
    named = ~np.isnan(target)
    names = [name for name, keep in zip(objective.class_names, named, strict=True) if keep]
    columns = vectors[:, named]
    fractions = target[named]
    if (~named).any():
        other = vectors[:, ~named].sum(axis=1, keepdims=True)
        columns = np.concatenate([columns, other], axis=1)
        fractions = np.append(fractions, max(0.0, 1.0 - float(fractions.sum())))
        names.append("other")
    total = float(fractions.sum())
    if total > 0:
        fractions = fractions / total
    return columns, fractions, names


def kl_bits(target: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """KL(t || p) in bits, p the normalised class sums clipped to PROBABILITY_FLOOR.

    Args:
        target: Array of shape (k,), summing to 1.
        sums: Array of shape (m, k): class sums of m candidate selections.

    Returns:
        Array of shape (m,).

    """
    totals = sums.sum(axis=1, keepdims=True)
    probabilities = np.divide(sums, totals, out=np.zeros_like(sums), where=totals > 0)
    probabilities = np.maximum(probabilities, PROBABILITY_FLOOR)
    steering = target > 0
    ratio = np.log2(target[steering] / probabilities[:, steering])
    return np.asarray((target[steering] * ratio).sum(axis=1))


class BalanceState:
    """Class-distribution potential `1 / (1 + KL(t || p))`."""

    def __init__(self, objective: BalanceObjective) -> None:
        self.objective = objective
        self.vectors, self.target, self.names = balance_columns(objective)
        self.sums = np.zeros(self.vectors.shape[1])

    def log_potentials(self, candidates: np.ndarray) -> np.ndarray:
        """`-log(1 + KL(t || p(S + {c})))`.

        Args:
            candidates: Array of shape (m,), int64.

        Returns:
            Array of shape (m,).

        """
        return np.asarray(-np.log1p(kl_bits(self.target, self.sums + self.vectors[candidates])))

    def add(self, candidate: int) -> None:
        """Add a candidate to the selected set."""
        self.sums = self.sums + self.vectors[candidate]

    def report(self) -> dict[str, Any]:
        """What the objective achieved."""
        total = float(self.sums.sum())
        achieved = self.sums / total if total > 0 else np.zeros_like(self.sums)
        return {
            "strategy": "BALANCE",
            "label": self.objective.label,
            "strength": self.objective.strength,
            "target": dict(zip(self.names, self.target.tolist(), strict=True)),
            "achieved": dict(zip(self.names, achieved.tolist(), strict=True)),
            "kl_divergence_bits": float(kl_bits(self.target, self.sums[None, :])[0]),
        }


ObjectiveState = DiversityState | WeightsState | BalanceState
