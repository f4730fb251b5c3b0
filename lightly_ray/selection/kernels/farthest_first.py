"""Exact greedy farthest-first selection and its diversity x weights variant (numba, CPU)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from lightly_ray.selection.kernels import _numba
from lightly_ray.selection.kernels.nearest_other import NearestOther
from lightly_ray.selection.kernels.reference import (
    STOP_BUDGET,
    STOP_MAX_SUM,
    STOP_MINIMUM_DISTANCE,
    STOP_MINIMUM_WEIGHT,
    combined_scores,
    first_weighted_pick,
)
from lightly_ray.selection.kernels.state import _BLOCK_ROWS, MinDistanceState

# Scores from the numba kernel and from numpy differ by a few ulps of the terms' magnitude at
# most; candidates within this relative tolerance of the best are re-scored by numpy.
_SCORE_TOLERANCE = 1e-12
# Ranked candidates per pass in farthest-first: up to this many picks share one pass (measured
# on 200,000 x 128: 32 beats 8 by about 15 % on random data; clustered data makes short batches).
_BATCH = 32
# Picks per pass in DIVERSITY x WEIGHTS (each costs a scan of the scores; 16 beat 8 and 32).
_WEIGHTED_BATCH = 16


@dataclass(frozen=True)
class FarthestFirstResult:
    """Outcome of a greedy selection.

    Attributes:
        indices: New picks in the order they were made, int64.
        min_distances_at_pick: Float64 Euclidean distance of each pick to the selected set just
            before it was picked (inf for the first pick of an empty set).
        stop_reason: "budget" or "stopping_condition_minimum_distance".
    """

    indices: np.ndarray
    min_distances_at_pick: np.ndarray
    stop_reason: str


def _preselect(state: MinDistanceState, preselected: np.ndarray | None) -> np.ndarray:
    rows = np.unique(np.asarray(preselected if preselected is not None else [], dtype=np.int64))
    if len(rows) and (rows[0] < 0 or rows[-1] >= state.n):
        raise IndexError("preselected index out of range")
    state.add_many(rows)
    return rows


def farthest_first(
    embeddings: np.ndarray,
    budget: int,
    *,
    preselected: np.ndarray | None = None,
    minimum_distance: float | None = None,
) -> FarthestFirstResult:
    """Greedy farthest-first traversal (k-center greedy), exact as the float64 reference.

    Each pick is the unselected row with the largest float64 squared distance to the selected
    set, ties to the lowest index; with nothing preselected the first pick is row 0.

    Args:
        embeddings: Array of shape (n, d), float32 (converted if not).
        budget: Size of the selection, preselected rows included (capped at n).
        preselected: Rows already selected.
        minimum_distance: Stop when the best candidate's Euclidean distance to the selected set
            is below this.

    Returns:
        The picks, their distances at pick time and the stop reason.
    """
    state = MinDistanceState(embeddings, candidates=_BATCH)
    chosen = _preselect(state, preselected)
    target = min(int(budget), state.n)
    picks: list[int] = []
    distances: list[float] = []
    stop = STOP_BUDGET
    while len(chosen) + len(picks) < target:
        batch = state.farthest_batch(target - len(chosen) - len(picks))
        if not len(batch):
            break
        squared = state.top()[1][: len(batch)] if len(chosen) + len(picks) else np.array([np.inf])
        batch_distances = np.sqrt(squared)
        if minimum_distance is not None and (batch_distances < minimum_distance).any():
            keep = int(np.argmax(batch_distances < minimum_distance))
            batch, batch_distances = batch[:keep], batch_distances[:keep]
            stop = STOP_MINIMUM_DISTANCE
        picks.extend(int(i) for i in batch)
        distances.extend(float(v) for v in batch_distances)
        state.add_many(batch)
        if stop != STOP_BUDGET:
            break
    return FarthestFirstResult(np.asarray(picks, dtype=np.int64), np.asarray(distances), stop)


def best_combined(
    state: MinDistanceState,
    weights: np.ndarray,
    diversity_offset: float,
    weight_offset: float,
    diversity_strength: float = 1.0,
    weight_strength: float = 1.0,
    *,
    scratch: np.ndarray | None = None,
    order: np.ndarray | None = None,
    scratch_rows: np.ndarray | None = None,
    sorted_weights: np.ndarray | None = None,
) -> int:
    """The unselected row maximising s_d * log(A + m) + s_w * log(W + w), exactly.

    m is the row's squared distance to the selected set (the engine's DIVERSITY potential is
    A + m, A the sum of the selected rows' squared distances to their nearest other selected
    row; the WEIGHTS potential is W + w). Scores are computed by numba; every
    row within a rigorous tolerance of the best is re-scored with numpy
    (`reference.combined_scores`) and numpy's order decides, ties to the lowest index.

    Args:
        state: The running minimum distances (at least one row selected).
        weights: Array (n,), float64, finite, with W + w >= 0.
        diversity_offset: A.
        weight_offset: W.
        diversity_strength: s_d.
        weight_strength: s_w.
        scratch: Optional float64 buffer of n entries to reuse.
        order: Optional row order by decreasing weight (`np.argsort(-weights, kind="stable")`):
            with positive s_w and s_d >= 0 only the rows that can still beat the best are scored.
        scratch_rows: Optional int64 buffer of n entries to reuse (with `order`).
        sorted_weights: Optional `weights[order]`, to reuse (with `order`).

    Returns:
        The row, or -1 when every row is selected.
    """
    raw = state.raw_min_sq()
    if order is not None and weight_strength > 0.0 and diversity_strength >= 0.0:
        row = _best_by_weight_scan(
            state,
            weights,
            order,
            diversity_offset,
            weight_offset,
            diversity_strength,
            weight_strength,
            scratch,
            scratch_rows,
            sorted_weights,
        )
        if row is not None:
            return row
    scores = scratch if scratch is not None else np.empty(state.n, dtype=np.float64)
    n_blocks = max(1, math.ceil(state.n / _BLOCK_ROWS))
    magnitude = np.zeros(n_blocks, dtype=np.float64)
    _numba.combined_scores_blocked(
        raw,
        weights,
        float(diversity_offset),
        float(weight_offset),
        float(diversity_strength),
        float(weight_strength),
        _BLOCK_ROWS,
        scores,
        magnitude,
    )
    candidates = _numba.near_best(scores, _SCORE_TOLERANCE * (float(magnitude.max()) + 1e-300))
    if len(candidates) == 0:
        return -1
    if len(candidates) == 1:
        return int(candidates[0])
    return _rescore(
        candidates, raw, weights, diversity_offset, weight_offset, diversity_strength, weight_strength
    )


def _rescore(
    rows: np.ndarray,
    raw: np.ndarray,
    weights: np.ndarray,
    diversity_offset: float,
    weight_offset: float,
    diversity_strength: float,
    weight_strength: float,
) -> int:
    """Numpy decides between near-tied rows (ascending), ties to the lowest index."""
    exact = combined_scores(
        np.maximum(raw[rows], 0.0),
        weights[rows],
        diversity_offset,
        weight_offset,
        diversity_strength,
        weight_strength,
    )
    return int(rows[int(np.argmax(exact))])


def _log(value: float) -> float:
    return math.log(value) if value > 0.0 else -math.inf


def _best_by_weight_scan(
    state: MinDistanceState,
    weights: np.ndarray,
    order: np.ndarray,
    diversity_offset: float,
    weight_offset: float,
    diversity_strength: float,
    weight_strength: float,
    scratch: np.ndarray | None,
    scratch_rows: np.ndarray | None,
    sorted_weights: np.ndarray | None,
) -> int | None:
    """`best_combined` for s_w > 0, s_d >= 0 by a weight-ordered scan; None when not applicable."""
    top, top_sq = state.best()
    if top < 0:
        return -1
    d_hi = diversity_strength * _log(diversity_offset + top_sq)
    d_lo = diversity_strength * _log(diversity_offset)
    w_hi = weight_strength * _log(weight_offset + float(weights[order[0]]))
    w_lo = weight_strength * _log(weight_offset + float(weights[order[-1]]))
    if diversity_strength == 0.0:
        d_hi = d_lo = 0.0
    magnitude = max(abs(d_hi), abs(d_lo)) + max(abs(w_hi), abs(w_lo))
    if not math.isfinite(magnitude) or diversity_offset + top_sq <= 0.0:
        return None  # log(0) somewhere: the full kernel handles infinite scores exactly
    tolerance = _SCORE_TOLERANCE * magnitude
    raw = state.raw_min_sq()
    rows = scratch_rows if scratch_rows is not None else np.empty(state.n, dtype=np.int64)
    scores = scratch if scratch is not None else np.empty(state.n, dtype=np.float64)
    parts = max(1, min(numba.get_num_threads(), state.n))
    counts = _numba.scan_by_weight(
        raw,
        weights[order] if sorted_weights is None else sorted_weights,
        order,
        float(diversity_offset),
        float(weight_offset),
        float(diversity_strength),
        float(weight_strength),
        d_hi + tolerance,
        tolerance,
        rows,
        scores,
        parts,
    )
    stride = -(-state.n // parts)
    found = np.concatenate([np.arange(t * stride, t * stride + int(c)) for t, c in enumerate(counts)])
    scanned_rows, scanned_scores = rows[found], scores[found]
    near = np.sort(scanned_rows[scanned_scores >= scanned_scores.max() - 2.0 * tolerance])
    if len(near) == 1:
        return int(near[0])
    return _rescore(near, raw, weights, diversity_offset, weight_offset, diversity_strength, weight_strength)


def farthest_first_weighted(
    embeddings: np.ndarray,
    weights: np.ndarray,
    budget: int,
    *,
    preselected: np.ndarray | None = None,
    diversity_strength: float = 1.0,
    weight_strength: float = 1.0,
    minimum_distance: float | None = None,
    max_sum: float | None = None,
    minimum_weight: float | None = None,
    diversity_stops_first: bool = True,
) -> WeightedResult:
    """Greedy DIVERSITY x WEIGHTS: each pick maximises s_d * log(A + m) + s_w * log(W + w).

    The engine's objective (docs/selection.md): A is the sum over selected rows of the squared
    distance to their nearest other selected row (0 for a lone row), m a row's squared distance
    to the selected set, W the selected rows' weight sum (preselected included). With nothing
    selected the diversity term is the same for every row and the weights decide the first pick.
    Exact as `reference_farthest_first(weights=...)`.

    Args:
        embeddings: Array of shape (n, d), float32.
        weights: Array of shape (n,), finite and >= 0.
        budget: Size of the selection, preselected rows included (capped at n).
        preselected: Rows already selected.
        diversity_strength: s_d.
        weight_strength: s_w.
        minimum_distance: Stop when the best row's Euclidean distance to the selected set is
            below this (once something is selected).
        max_sum: Stop when adding the best row would take W above this.
        minimum_weight: Stop when the best row's weight is below this.
        diversity_stops_first: Which condition names the stop when both hold at once (the
            engine checks its objectives in config order).

    Returns:
        The picks, their distances at pick time, the stop reason, A and W at the end.
    """
    state = MinDistanceState(embeddings)
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if w.shape != (state.n,):
        raise ValueError(f"weights must have shape ({state.n},), got {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("weights must be finite and >= 0")
    chosen = _preselect(state, preselected)
    nearest_other = NearestOther(state.matrix)
    for index in chosen:
        nearest_other.add(int(index))
    weight_sum = float(w[chosen].sum()) if len(chosen) else 0.0
    scratch = np.empty(state.n, dtype=np.float64)
    order = np.argsort(-w, kind="stable")
    scratch_rows = np.empty(state.n, dtype=np.int64)
    sorted_weights = w[order]
    target = min(int(budget), state.n)
    picks: list[int] = []
    distances: list[float] = []
    stop = STOP_BUDGET
    # Picks are made in batches that share one pass over the rows (`state.add_many`). Within a
    # batch the stored minimum distances m are stale: each can only drop when the batch is added.
    # With s_d >= 0 a stale score is an upper bound on the true one, so the best stale score is
    # the true next pick whenever its own m did not drop, i.e. its reference distance to every
    # earlier batch member is >= m (the pass would then leave m as it is, ties included; see
    # `_batch` for the same argument in plain farthest-first). A and W are exact at every step.
    # Otherwise the batch ends and the pick is made again after the pass.
    batch_limit = _WEIGHTED_BATCH if diversity_strength >= 0.0 else 1
    raw = state.raw_min_sq()
    while len(chosen) + len(picks) < target and stop == STOP_BUDGET:
        batch: list[int] = []
        # The first row of an empty selection changes every distance: a batch of its own.
        limit = batch_limit if len(chosen) + len(picks) else 1
        while len(batch) < limit and len(chosen) + len(picks) < target:
            if len(chosen) + len(picks) == 0:
                index = first_weighted_pick(w, 0.0, weight_strength)
            else:
                index = best_combined(
                    state,
                    w,
                    nearest_other.total(),
                    weight_sum,
                    diversity_strength,
                    weight_strength,
                    scratch=scratch,
                    order=order,
                    scratch_rows=scratch_rows,
                    sorted_weights=sorted_weights,
                )
            if index < 0:
                break
            to_selected = nearest_other.pick_distances(index)
            squared = max(float(raw[index]), 0.0)
            if batch and bool((to_selected[len(to_selected) - len(batch) :] < squared).any()):
                break  # its distance drops when the batch is added: decide after the pass
            distance = math.sqrt(squared)
            diversity_stop = minimum_distance is not None and distance < minimum_distance
            weight_stop = (
                STOP_MAX_SUM
                if max_sum is not None and weight_sum + float(w[index]) > max_sum
                else STOP_MINIMUM_WEIGHT
                if minimum_weight is not None and float(w[index]) < minimum_weight
                else None
            )
            if diversity_stop and (diversity_stops_first or weight_stop is None):
                stop = STOP_MINIMUM_DISTANCE
                break
            if weight_stop is not None:
                stop = weight_stop
                break
            picks.append(index)
            distances.append(distance)
            weight_sum += float(w[index])
            nearest_other.add(index, to_selected)
            batch.append(index)
            state.hold(index)
        if not batch:
            break
        state.add_many(np.asarray(batch, dtype=np.int64))
    return WeightedResult(
        np.asarray(picks, dtype=np.int64),
        np.asarray(distances),
        stop,
        nearest_other.total(),
        weight_sum,
        float(nearest_other.values.min(initial=math.inf)),
    )


@dataclass(frozen=True)
class WeightedResult(FarthestFirstResult):
    """`FarthestFirstResult` plus the final potentials of DIVERSITY x WEIGHTS.

    Attributes:
        diversity_offset: A, the sum of the selected rows' squared nearest-other distances.
        weight_sum: W, the selected rows' weight sum (preselected included).
        minimum_nearest_other: The smallest squared distance between two selected rows.
    """

    diversity_offset: float = 0.0
    weight_sum: float = 0.0
    minimum_nearest_other: float = math.inf
