"""Exactness of the fast selection kernels against the float64 numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lightly_ray.selection.kernels import (
    MinDistanceState,
    _numba,
    best_combined,
    combined_scores,
    farthest_first,
    farthest_first_torch,
    farthest_first_weighted,
    reference_farthest_first,
)
from lightly_ray.selection.kernels.torch_path import reference_farthest_first_torch


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _assert_same(x: np.ndarray, budget: int, **kwargs: object) -> None:
    result = farthest_first(x, budget, **kwargs)  # type: ignore[arg-type]
    picks, distances, stop = reference_farthest_first(x, budget, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(result.indices, picks)
    np.testing.assert_array_equal(result.min_distances_at_pick, distances)  # bit-identical
    assert result.stop_reason == stop


@pytest.mark.parametrize(
    ("n", "d", "budget", "seed"),
    [(800, 128, 150, 0), (600, 3, 200, 1), (500, 16, 499, 2), (400, 300, 60, 3), (300, 129, 300, 4)],
)
def test_random_matches_reference(n: int, d: int, budget: int, seed: int) -> None:
    _assert_same(_unit(np.random.default_rng(seed), n, d), budget)


def test_not_normalised_and_float64_input() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((500, 24)) * rng.uniform(0.01, 50.0, (500, 1))
    _assert_same(x.astype(np.float32), 120)
    result = farthest_first(x, 50)
    np.testing.assert_array_equal(result.indices, reference_farthest_first(x.astype(np.float32), 50)[0])


def _near_ties(seed: int) -> np.ndarray:
    """Clusters of copies perturbed by one float32 ulp: float32 arithmetic cannot order them."""
    rng = np.random.default_rng(seed)
    base = _unit(rng, 40, 64)
    rows = [base]
    for _ in range(6):
        copy = base.copy()
        cols = rng.integers(0, 64, size=len(base))
        direction = np.where(rng.random(len(base)) < 0.5, np.float32(np.inf), np.float32(-np.inf))
        copy[np.arange(len(base)), cols] = np.nextafter(copy[np.arange(len(base)), cols], direction)
        rows.append(copy)
    rows.append(base[:10])  # exact duplicates
    x = np.concatenate(rows)
    return x[rng.permutation(len(x))]


@pytest.mark.parametrize("seed", range(4))
def test_near_ties_match_reference(seed: int) -> None:
    x = _near_ties(seed)
    _assert_same(x, len(x))  # select everything: the tail is all near-ties and duplicates


def test_duplicates_tie_to_lowest_index() -> None:
    rng = np.random.default_rng(7)
    x = np.repeat(_unit(rng, 5, 8), 4, axis=0)  # 20 rows, 5 distinct
    _assert_same(x, 20)
    result = farthest_first(x, 20)
    assert sorted(result.indices[:5] // 4) == [0, 1, 2, 3, 4]
    assert np.all(result.min_distances_at_pick[5:] == 0.0)


def test_preselected() -> None:
    x = _unit(np.random.default_rng(8), 700, 32)
    _assert_same(x, 200, preselected=np.array([5, 600, 5, 17]))
    empty = farthest_first(x, 2, preselected=np.array([1, 2, 3]))
    assert len(empty.indices) == 0
    assert empty.stop_reason == "budget"


def test_minimum_distance_stops() -> None:
    x = _unit(np.random.default_rng(9), 600, 8)
    _, distances, _ = reference_farthest_first(x, 300)
    threshold = float(distances[150])
    _assert_same(x, 300, minimum_distance=threshold)
    result = farthest_first(x, 300, minimum_distance=threshold)
    assert result.stop_reason == "stopping_condition_minimum_distance"
    assert np.all(result.min_distances_at_pick >= threshold)


def test_budget_larger_than_n_and_tiny_inputs() -> None:
    x = _unit(np.random.default_rng(10), 5, 4)
    _assert_same(x, 50)
    assert farthest_first(np.zeros((0, 4), dtype=np.float32), 3).indices.tolist() == []
    assert farthest_first(np.zeros((1, 4), dtype=np.float32), 3).indices.tolist() == [0]


def test_state_min_distances_exact() -> None:
    rng = np.random.default_rng(11)
    x = _unit(rng, 900, 40)
    state = MinDistanceState(x)
    assert state.best() == (0, float("inf"))
    chosen = [3, 500, 71, 3]
    for index in chosen:
        state.add(index)
    x64 = x.astype(np.float64)
    expected = np.min([((x64 - x64[c]) ** 2).sum(axis=1) for c in chosen], axis=0)
    np.testing.assert_array_equal(state.min_sq_distances(), expected)
    np.testing.assert_array_equal(state.min_sq_distances(np.array([7, 500])), expected[[7, 500]])
    open_rows = np.setdiff1d(np.arange(900), chosen)
    best = int(open_rows[np.argmax(expected[open_rows])])
    assert state.best() == (best, float(expected[best]))
    assert state.selected.tolist() == [3, 500, 71]
    assert state.is_selected(500) and not state.is_selected(501)


@pytest.mark.parametrize(
    ("s_d", "s_w", "seed"),
    [(1.0, 1.0, 0), (2.0, 0.5, 1), (1.0, 0.0, 2), (0.3, 3.0, 3), (0.0, 1.0, 4), (-0.5, 1.0, 5)],
)
def test_weighted_matches_reference(s_d: float, s_w: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = _unit(rng, 700, 32)
    w = 1.0 - rng.random(700)
    result = farthest_first_weighted(
        x, w, 150, diversity_strength=s_d, weight_strength=s_w, preselected=np.array([9])
    )
    picks, distances, stop = reference_farthest_first(
        x, 150, weights=w, diversity_strength=s_d, weight_strength=s_w, preselected=np.array([9])
    )
    np.testing.assert_array_equal(result.indices, picks)
    np.testing.assert_array_equal(result.min_distances_at_pick, distances)
    assert result.stop_reason == stop


def test_weighted_batches_end_where_a_pick_would_lose_distance() -> None:
    # Clustered rows: the best stale score often belongs to a row next to an earlier pick of the
    # same batch, so batches are cut short and the pick is made again after the pass.
    rng = np.random.default_rng(21)
    centres = _unit(rng, 12, 16)
    x = centres[rng.integers(0, 12, 900)] + 0.02 * rng.standard_normal((900, 16)).astype(np.float32)
    w = rng.random(900)
    result = farthest_first_weighted(x, w, 300, preselected=np.array([5, 17]))
    picks, distances, stop = reference_farthest_first(x, 300, weights=w, preselected=np.array([5, 17]))
    np.testing.assert_array_equal(result.indices, picks)
    np.testing.assert_array_equal(result.min_distances_at_pick, distances)
    assert result.stop_reason == stop


def test_center_scale_is_squared_in_float64() -> None:
    # Found by the property test: a center scale squared in float32 made the int8 bound skip
    # row 23, whose distance to row 1 is 1e-14 below its distance to row 0.
    x = np.full((24, 3), 0.25, dtype=np.float32)
    x[0] = [1e-7, 0.0, 0.25]
    x[23] = [0.25, 1e-7, 0.25]
    _assert_same(x, 3)
    state = MinDistanceState(x)
    state.add(0)
    state.add(1)
    exact = ((x[23].astype(np.float64) - x[1].astype(np.float64)) ** 2).sum()
    assert state.raw_min_sq()[23] == exact


def test_state_hold_hides_a_row_until_the_next_pass() -> None:
    x = _unit(np.random.default_rng(2), 50, 8)
    state = MinDistanceState(x)
    state.add(0)
    before = state.raw_min_sq()[7]
    state.hold(7)
    assert state.raw_min_sq()[7] == -1.0 and state.is_selected(7)
    state.add_many(np.array([7]))
    assert state.selected.tolist() == [0, 7] and before > 0.0
    state.hold(3)
    state.add_many(np.array([4]))  # a held row that is not added gets its distance back
    assert not state.is_selected(3) and state.raw_min_sq()[3] >= 0.0


def test_weighted_ties_and_duplicates() -> None:
    rng = np.random.default_rng(12)
    x = np.repeat(_near_ties(1)[:60], 2, axis=0)
    w = np.round(rng.random(len(x)), 1)  # many equal weights
    result = farthest_first_weighted(x, w, len(x))
    np.testing.assert_array_equal(result.indices, reference_farthest_first(x, len(x), weights=w)[0])


@pytest.mark.parametrize("seed", range(3))
def test_torch_cpu_matches_numba(seed: int) -> None:
    x = _near_ties(seed) if seed else _unit(np.random.default_rng(seed), 800, 128)
    budget = min(len(x), 200)
    numba_result = farthest_first(x, budget, preselected=np.array([2]))
    torch_result = farthest_first_torch(x, budget, preselected=np.array([2]), device="cpu")
    np.testing.assert_array_equal(torch_result.indices, numba_result.indices)
    np.testing.assert_array_equal(torch_result.min_distances_at_pick, numba_result.min_distances_at_pick)
    stop_at = float(numba_result.min_distances_at_pick[100])
    a = farthest_first_torch(x, budget, minimum_distance=stop_at, device="cpu")
    b = farthest_first(x, budget, minimum_distance=stop_at)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.stop_reason == b.stop_reason


@pytest.mark.parametrize("dim", [5, 128, 300])
def test_torch_reference_is_the_numpy_reference(dim: int) -> None:
    x = _unit(np.random.default_rng(dim), 700, dim)
    x[5] = x[3]  # an exact duplicate: a tie that only the lowest-index rule breaks
    expected = reference_farthest_first(x, 150)[0]
    got = reference_farthest_first_torch(torch.from_numpy(x), 150, chunk_rows=128)
    np.testing.assert_array_equal(got, expected)


def test_torch_path_uses_a_device_tensor_in_place() -> None:
    x = torch.from_numpy(_unit(np.random.default_rng(4), 500, 16))
    result = farthest_first_torch(x, 60, device="cpu")
    np.testing.assert_array_equal(result.indices, farthest_first(x.numpy(), 60).indices)


@pytest.mark.gpu
def test_torch_cuda_matches_numba() -> None:
    x = _near_ties(2)
    budget = min(len(x), 300)
    expected = farthest_first(x, budget)
    got = farthest_first_torch(x, budget, device="cuda")
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.min_distances_at_pick, expected.min_distances_at_pick)
    reference = reference_farthest_first_torch(torch.from_numpy(x).cuda(), budget)
    np.testing.assert_array_equal(reference, expected.indices)


_VALUES = st.sampled_from([-1.0, -0.5, -0.25, 0.0, 0.1, 0.25, 0.3, 0.5, 1.0, 1e-7, 2.0])


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(np.float32, st.tuples(st.integers(1, 30), st.integers(1, 5)), elements=_VALUES),
    budget=st.integers(1, 35),
    preselected=st.lists(st.integers(0, 29), max_size=3),
    weights=st.lists(st.sampled_from([0.0, 0.5, 1.0, 0.25]), min_size=30, max_size=30),
)
def test_property_matches_reference(
    x: np.ndarray, budget: int, preselected: list[int], weights: list[float]
) -> None:
    pre = np.array([p for p in preselected if p < len(x)], dtype=np.int64)
    _assert_same(x, budget, preselected=pre)
    w = np.array(weights[: len(x)])
    result = farthest_first_weighted(x, w, budget, preselected=pre)
    np.testing.assert_array_equal(
        result.indices, reference_farthest_first(x, budget, preselected=pre, weights=w)[0]
    )


@pytest.mark.parametrize(("s_d", "s_w"), [(1.0, 1.0), (0.0, 2.0), (4.0, 0.1), (-1.0, 1.0), (1.0, -0.5)])
def test_best_combined_scan_and_full_kernel_agree(s_d: float, s_w: float) -> None:
    rng = np.random.default_rng(13)
    x = _unit(rng, 3000, 16)
    w = np.round(1.0 - rng.random(3000), 2)  # ties in the weights
    state = MinDistanceState(x)
    for index in (0, 17, 2500, 901):
        state.add(index)
    order = np.argsort(-w, kind="stable")
    full = best_combined(state, w, 3.5, 2.0, s_d, s_w)
    scanned = best_combined(state, w, 3.5, 2.0, s_d, s_w, order=order)
    scores = combined_scores(state.min_sq_distances(), w, 3.5, 2.0, s_d, s_w)
    scores[[0, 17, 2500, 901]] = -np.inf
    assert full == scanned == int(np.argmax(scores))


def test_stream_probe() -> None:
    assert _numba.stream_sum(np.ones(100_001, dtype=np.float32), 4096) == 100_001.0


def test_more_picks_than_initial_selected_buffer() -> None:
    x = np.random.default_rng(14).standard_normal((1500, 2)).astype(np.float32)
    _assert_same(x, 1300)


def test_farthest_batch_is_the_next_picks_and_stops_at_interacting_candidates() -> None:
    # Rows 1 and 2 are the two farthest from row 0 but close to each other: once row 1 is
    # picked, row 2's distance drops, so a batch must end before it.
    x = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 0.5], [0.0, 6.0], [-5.0, 0.0], [0.0, -4.0]], np.float32)
    state = MinDistanceState(x, candidates=4)
    np.testing.assert_array_equal(state.farthest_batch(4), [0])
    state.add_many(np.array([0]))
    np.testing.assert_array_equal(state.farthest_batch(4), [2])  # 10.01 > 10, then row 1 interacts
    state.add(2)
    # Row 1 is now 0.5 from row 2 and far from rows 3, 4, 5: all four are certain.
    np.testing.assert_array_equal(state.farthest_batch(4), [3, 4, 5, 1])
    np.testing.assert_array_equal(state.farthest_batch(2), [3, 4])  # the budget caps a batch
    reference = reference_farthest_first(x, 6)[0]
    np.testing.assert_array_equal(farthest_first(x, 6).indices, reference)


def test_batches_share_passes_on_random_data() -> None:
    x = _unit(np.random.default_rng(8), 3000, 32)
    state = MinDistanceState(x, candidates=8)
    picks: list[int] = []
    while len(picks) < 400:
        batch = state.farthest_batch(400 - len(picks))
        picks.extend(int(i) for i in batch)
        state.add_many(batch)
    np.testing.assert_array_equal(picks, reference_farthest_first(x, 400)[0])
    assert state.passes < 0.5 * len(picks)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_value_that_is_not_finite_is_found_in_any_slice_of_rows(
    monkeypatch: pytest.MonkeyPatch, bad: float
) -> None:
    from lightly_ray.selection import finite
    from lightly_ray.selection.kernels import state

    monkeypatch.setattr(finite, "FINITE_CHECK_ROWS", 3)
    matrix = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    state.MinDistanceState(matrix)  # finite: accepted
    for row in (0, 2, 3, 9):  # first and last rows of the first slice, a later slice, the last row
        broken = matrix.copy()
        broken[row, 1] = bad
        with pytest.raises(ValueError, match="must be finite"):
            state.MinDistanceState(broken)
