"""Whose prediction and metadata files a run does not read, and why (`DatapoolPlan.other_files`)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lightly_ray.datasets.datapool import DatapoolPlan
from lightly_ray.pipeline.gather import GatheredSamples


def _gathered() -> GatheredSamples:
    names = np.array(["a.png", "b.jpg", "c.png", "clip-0-mp4.png", "clip-1-mp4.png"], dtype=object)
    gathered = GatheredSamples.of_matrix(names, np.eye(5, dtype=np.float32))
    gathered.errors[1] = "image file is truncated"
    gathered.duplicate_of[2] = "a.png"
    gathered.frames = {
        "video": np.array(["", "", "", "clip.mp4", "clip.mp4"], dtype=object),
        "frame_index": np.array([-1, -1, -1, 0, 1]),
    }
    return gathered


def test_unread_corrupt_and_duplicate_files_each_with_its_reason() -> None:
    listing = pa.table({"name": ["a.png", "b.jpg", "bad.MOV", "c.png", "clip.mp4"]})
    plan = DatapoolPlan(to_process=listing, unread=pa.array(["old.png", "old_clip.mp4"]))

    unread = plan.other_files(_gathered())

    reasons = {
        stem: unread.reason(stem)
        for stem in ("a", "b", "c", "bad", "bad-003-MOV", "old", "old_clip-12-mp4", "clip", "clip-0-mp4", "x")
    }
    assert reasons == {
        "a": None,
        "b": "corrupt",
        "c": "duplicate",
        "bad": "corrupt",  # a video that gave no frame could not be opened
        "bad-003-MOV": "corrupt",
        "old": "unchangedDatapool",
        "old_clip-12-mp4": "unchangedDatapool",
        "clip": None,  # a video that was opened: its files are its frames'
        "clip-0-mp4": None,
        "x": None,
    }


def test_without_the_gathered_samples_only_the_unread_files() -> None:
    plan = DatapoolPlan(to_process=pa.table({"name": ["a.png"]}), unread=pa.array(["old.png"]))
    unread = plan.other_files()
    assert (unread.reason("old"), unread.reason("a")) == ("unchangedDatapool", None)
    assert DatapoolPlan(to_process=pa.table({"name": ["a.png"]})).other_files().reason("old") is None
