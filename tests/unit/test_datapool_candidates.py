"""Which gathered samples stay candidates: every one on a run without the datapool, else the new files'."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lightly_ray.datasets.datapool import DatapoolPlan, restrict_candidates
from lightly_ray.pipeline.gather import GatheredSamples


def _gathered() -> GatheredSamples:
    names = np.array(["a.png", "b.png", "clip-0-mp4.png", "clip-1-mp4.png", "d.png"], dtype=object)
    gathered = GatheredSamples.of_matrix(names, np.eye(5, dtype=np.float32))
    gathered.frames = {
        "video": np.array(["", "", "clip.mp4", "clip.mp4", ""], dtype=object),
        "frame_index": np.array([-1, -1, 0, 1, -1]),
    }
    gathered.candidate[4] = False  # e.g. an exact duplicate
    return gathered


def test_every_listed_file_is_a_candidate_without_a_set_of_names() -> None:
    listing = pa.table({"name": ["a.png", "b.png", "clip.mp4", "d.png"], "size": [1, 2, 3, 4]})
    plan = DatapoolPlan(to_process=listing)
    assert plan.new_files is None
    gathered = _gathered()
    restrict_candidates(gathered, plan)
    assert gathered.candidate.tolist() == [True, True, True, True, False]


def test_only_the_new_files_and_their_frames_stay_candidates() -> None:
    listing = pa.table({"name": ["a.png", "b.png", "clip.mp4", "d.png"], "size": [1, 2, 3, 4]})
    gathered = _gathered()
    restrict_candidates(gathered, DatapoolPlan(to_process=listing, new_files={"b.png", "clip.mp4"}))
    assert gathered.candidate.tolist() == [False, True, True, True, False]
    gathered = _gathered()
    restrict_candidates(gathered, DatapoolPlan(to_process=listing, new_files=set()))
    assert not gathered.candidate.any()
