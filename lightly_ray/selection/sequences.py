"""Sequence selection: select whole groups of consecutive video frames.

With `worker_config.selected_sequence_length: X`, each video is cut into consecutive,
non-overlapping sequences of X frames (trailing frames dropped). A sequence is a candidate:
its embedding is the mean of its frames' embeddings (re-normalised to unit length when the
frames' embeddings are), its weights and threshold values are the means over its frames, and
its class vector is the sum of its frames'. The budget counts frames and is rounded down to
whole sequences, so the number of selected frames is a multiple of X. Selecting a sequence
selects all its frames.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lightly_ray.selection.engine import select, wanted_samples
from lightly_ray.selection.problem import (
    BalanceObjective,
    DiversityObjective,
    Objective,
    SelectionProblem,
    ThresholdFilter,
    WeightsObjective,
)
from lightly_ray.selection.result import SelectionResult


def select_sequences(problem: SelectionProblem, sequence_of: np.ndarray) -> SelectionResult:
    """Select whole sequences of frames.

    Preselected frames (a datapool's earlier picks) take part as they are: one in a complete
    sequence preselects that sequence, and one in no complete sequence (an image, or a frame of a
    sequence of another length) is a preselected group of its own, so that diversity still keeps
    its distance to it. The budget counts their frames.

    Args:
        problem: The frame-level problem (candidates are frames, sorted by name).
        sequence_of: Array of shape (n_frames,), int64: the sequence id of each frame, or -1 for
            frames in no sequence (trailing frames), which are never selected. Every sequence
            has the same number of frames.

    Returns:
        The selected frames (all frames of each selected sequence, sequences in pick order,
        frames in index order), the stop reason, the budget in frames and the reports.

    Raises:
        ValueError: When sequences have different lengths or there are none.
    """
    ids = np.asarray(sequence_of, dtype=np.int64)
    sequences = np.unique(ids[ids >= 0])
    if len(sequences) == 0:
        raise ValueError("no complete sequence: every video is shorter than selected_sequence_length")
    order = np.argsort(ids, kind="stable")
    starts = np.searchsorted(ids[order], sequences)
    ends = np.searchsorted(ids[order], sequences, side="right")
    members = [order[start:end] for start, end in zip(starts, ends, strict=True)]
    length = len(members[0])
    if any(len(frames) != length for frames in members):
        raise ValueError("every sequence must hold the same number of frames")
    preselected = np.unique(np.asarray(problem.preselected, dtype=np.int64))
    loose = preselected[ids[preselected] < 0]
    chosen = np.unique(ids[preselected[ids[preselected] >= 0]])
    groups = members + [np.array([frame]) for frame in loose]
    preselected_groups = np.concatenate(
        [np.searchsorted(sequences, chosen), len(members) + np.arange(len(loose))]
    ).astype(np.int64)
    frame_budget = wanted_samples(problem, int((ids >= 0).sum()) + len(loose))
    new_sequences = max(0, frame_budget - len(chosen) * length - len(loose)) // length
    sequence_problem = SelectionProblem(
        names=[problem.names[frames[0]] for frames in groups],
        objectives=[_aggregate(objective, groups) for objective in problem.objectives],
        filters=[_aggregate_filter(item, groups) for item in problem.filters],
        n_samples=max(1, len(preselected_groups) + new_sequences),
        preselected=preselected_groups,
    )
    result = select(sequence_problem)
    frames = [int(frame) for sequence in result.indices for frame in groups[int(sequence)]]
    # Counts in frames, as the config and the report speak of frames; each frame of a sequence
    # shows its sequence's distance at pick time.
    return replace(
        result,
        indices=np.asarray(frames, dtype=np.int64),
        budget=(result.budget - len(loose)) * length + len(loose),
        requested=frame_budget,
        n_candidates=len(problem.names),
        n_after_thresholds=(result.n_after_thresholds - len(loose)) * length + len(loose),
        thresholds=[
            {**item, "n_passed": item["n_passed"] * length, "n_left": item["n_left"] * length}
            for item in result.thresholds
        ],
        pick_distances=[
            None if distances is None else np.repeat(distances, length) for distances in result.pick_distances
        ],
    )


def sequence_ids(videos: np.ndarray, frame_indices: np.ndarray, ok: np.ndarray, length: int) -> np.ndarray:
    """The sequence of each candidate: consecutive, non-overlapping runs of `length` frames.

    A video's frames 0..length-1 form its first sequence, and so on; the trailing frames of a
    video, images, and every frame of a sequence in which a frame did not decode belong to no
    sequence (-1), so that every sequence holds exactly `length` frames.

    Args:
        videos: Per candidate, its video's name ("" or None for an image).
        frame_indices: Per candidate, its frame index in its video.
        ok: Per candidate, whether it decoded.
        length: `worker_config.selected_sequence_length`.

    Returns:
        Array of shape (n_candidates,), int64: sequence ids (0, 1, ...) or -1.

    """
    keys: dict[tuple[str, int], list[int]] = {}
    for row, (video, frame, decoded) in enumerate(zip(videos, frame_indices, ok, strict=True)):
        if video and decoded:
            keys.setdefault((str(video), int(frame) // length), []).append(row)
    ids = np.full(len(videos), -1, dtype=np.int64)
    for number, (_, rows) in enumerate(
        sorted((key, rows) for key, rows in keys.items() if len(rows) == length)
    ):
        ids[rows] = number
    return ids


def _aggregate(objective: Objective, members: list[np.ndarray]) -> Objective:
    if isinstance(objective, DiversityObjective):
        if objective.groups is not None:
            raise ValueError("object-level diversity cannot be combined with sequence selection")
        means = np.stack([objective.embeddings[frames].mean(axis=0) for frames in members])
        norms = np.linalg.norm(objective.embeddings, axis=1)
        if len(norms) and np.allclose(norms, 1.0, atol=1e-3):
            means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        return replace(objective, embeddings=means.astype(np.float32))
    if isinstance(objective, WeightsObjective):
        return replace(objective, weights=np.array([objective.weights[frames].mean() for frames in members]))
    assert isinstance(objective, BalanceObjective)
    vectors = np.stack([objective.class_vectors[frames].sum(axis=0) for frames in members])
    return replace(objective, class_vectors=vectors)


def _aggregate_filter(item: ThresholdFilter, members: list[np.ndarray]) -> ThresholdFilter:
    return replace(item, values=np.array([item.values[frames].mean() for frames in members]))
