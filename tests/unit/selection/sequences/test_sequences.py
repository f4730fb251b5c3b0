from __future__ import annotations

import numpy as np
import pytest

from lightly_ray.selection.problem import (
    DiversityObjective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)
from lightly_ray.selection.sequences import select_sequences


def _problem(points: list[float], n_samples: int, *extra: object) -> SelectionProblem:
    embeddings = np.array([[value] for value in points], dtype=np.float32)
    return SelectionProblem(
        names=[f"v-{index:02d}-mp4.png" for index in range(len(points))],
        objectives=[DiversityObjective(label="div", embeddings=embeddings), *extra],  # type: ignore[list-item]
        n_samples=n_samples,
    )


def test_whole_sequences_by_mean_embedding() -> None:
    # Sequences of 2 frames: means 0.5, 5.5, 10.5, 3.0; the trailing frame (id -1) never counts.
    points = [0.0, 1.0, 5.0, 6.0, 10.0, 11.0, 2.0, 4.0, 100.0]
    ids = np.array([0, 0, 1, 1, 2, 2, 3, 3, -1])
    result = select_sequences(_problem(points, 4), ids)
    # Farthest-first on the means [0.5, 5.5, 10.5, 3.0]: sequence 0, then 2; 4 frames = 2 sequences.
    assert result.indices.tolist() == [0, 1, 4, 5]
    assert len(result.indices) % 2 == 0


def test_budget_rounds_down_to_whole_sequences_and_filters_use_means() -> None:
    points = [0.0, 1.0, 5.0, 6.0, 10.0, 11.0]
    ids = np.array([0, 0, 1, 1, 2, 2])
    keep_low = ThresholdFilter(
        label="t", values=np.array([1, 1, 1, 1, 9, 9.0]), threshold=5, operation="SMALLER"
    )
    problem = _problem(points, 5)
    problem.filters = [keep_low]
    result = select_sequences(problem, ids)
    assert result.indices.tolist() == [0, 1, 2, 3]


def test_weights_are_averaged_per_sequence() -> None:
    weights = WeightsObjective(label="w", kind="WEIGHTS", weights=np.array([0.1, 0.1, 0.9, 0.9, 0.5, 0.6]))
    problem = SelectionProblem(names=[f"f{index}" for index in range(6)], objectives=[weights], n_samples=2)
    assert select_sequences(problem, np.array([0, 0, 1, 1, 2, 2])).indices.tolist() == [2, 3]


def test_unequal_sequences_are_an_error() -> None:
    with pytest.raises(ValueError, match="same number of frames"):
        select_sequences(_problem([0.0, 1.0, 2.0], 2), np.array([0, 0, 1]))


def test_a_preselected_frame_preselects_its_sequence_and_counts_in_the_budget() -> None:
    # Sequence 0 (mean 0.5) is preselected through one of its frames; a budget of 4 frames is
    # one more sequence: the farthest from 0.5 is sequence 2 (mean 10.5).
    points = [0.0, 1.0, 5.0, 6.0, 10.0, 11.0]
    problem = _problem(points, 4)
    problem.preselected = np.array([1])
    result = select_sequences(problem, np.array([0, 0, 1, 1, 2, 2]))
    assert result.indices.tolist() == [4, 5]
    assert result.budget == 4


def test_preselected_frames_outside_sequences_keep_their_distance() -> None:
    # Frames 6 and 7 (at 10 and 11) were selected by an earlier run with another sequence length:
    # they are in no sequence here, yet the new sequence is the one farthest from them and from
    # the other preselected sequence, and their frames count in the budget.
    points = [0.0, 1.0, 5.0, 6.0, 10.0, 11.0, 10.0, 11.0]
    problem = _problem(points, 6)
    problem.preselected = np.array([6, 7])
    result = select_sequences(problem, np.array([0, 0, 1, 1, 2, 2, -1, -1]))
    # 6 frames: the 2 preselected ones and 2 sequences. Farthest-first from {10, 11}: sequence 0
    # (mean 0.5), then sequence 1 (mean 5.5, 4.5 from 10); sequence 2 (mean 10.5) is not picked.
    assert result.indices.tolist() == [0, 1, 2, 3]
    assert result.budget == 6
