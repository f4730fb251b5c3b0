from __future__ import annotations

import numpy as np

from lightly_ray.selection.diversity import farthest_first


def test_points_on_a_line() -> None:
    picks, reason, _ = farthest_first(np.array([[1.0], [3.0], [5.0]]), budget=2)
    assert picks.tolist() == [0, 2]
    assert reason == "budget"


def test_farthest_first_order_and_ties_to_lowest_index() -> None:
    points = np.array([[0.0], [10.0], [5.0], [-5.0], [15.0]])
    picks, _, distances = farthest_first(points, budget=5)
    # 0 first, then 15 (15 away); then 10, 5 and -5 are all 5 away: ties go to the lowest index.
    assert picks.tolist() == [0, 4, 1, 2, 3]
    assert distances == [15.0, 5.0, 5.0, 5.0]


def test_exact_tie_goes_to_lowest_index() -> None:
    picks, _, _ = farthest_first(np.array([[0.0], [2.0], [-2.0]]), budget=2)
    assert picks.tolist() == [0, 1]


def test_minimum_distance_stops_selection() -> None:
    points = np.array([[0.0], [0.1], [1.0], [1.05], [3.0]])
    picks, reason, distances = farthest_first(points, budget=5, minimum_distance=0.5)
    # 0, then 3.0; then 1.05 (1.05 from 0) beats 1.0; then the best is 0.1 away: stop.
    assert picks.tolist() == [0, 4, 3]
    assert reason == "stopping_condition_minimum_distance"
    assert min(distances) >= 0.5


def test_preselected_count_toward_budget() -> None:
    points = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    picks, _, _ = farthest_first(points, budget=3, preselected=np.array([4]))
    assert picks.tolist() == [0, 2]


def test_negative_strength_picks_nearest() -> None:
    points = np.array([[0.0], [10.0], [0.5], [3.0]])
    picks, _, _ = farthest_first(points, budget=3, strength=-1.0)
    assert picks.tolist() == [0, 2, 3]
