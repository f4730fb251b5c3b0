from __future__ import annotations

import numpy as np
import pytest

from lightly_ray.selection.diversity import farthest_first
from lightly_ray.selection.sharded import sharded_farthest_first

pytestmark = pytest.mark.usefixtures("ray_instance")


@pytest.mark.parametrize("preselected", [None, np.array([17, 250])])
def test_three_shards_pick_exactly_the_single_process_indices(preselected: np.ndarray | None) -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(301, 16)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    expected, reason, distances = farthest_first(points, budget=40, preselected=preselected)
    result = sharded_farthest_first(points, budget=40, shards=3, preselected=preselected, cpus_per_shard=0.25)
    assert result.indices.tolist() == expected.tolist()
    assert result.stop_reason == reason == "budget"
    assert result.distances == pytest.approx(distances)


def test_minimum_distance_and_ties_across_shards() -> None:
    # Duplicated rows in different shards: ties go to the lowest global index.
    base = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    points = np.concatenate([base, base, base * 0.99])
    expected, reason, _ = farthest_first(points, budget=12, minimum_distance=0.5)
    result = sharded_farthest_first(points, budget=12, shards=3, minimum_distance=0.5, cpus_per_shard=0.25)
    assert result.indices.tolist() == expected.tolist() == [0, 3, 1, 2]
    assert result.stop_reason == reason == "stopping_condition_minimum_distance"
