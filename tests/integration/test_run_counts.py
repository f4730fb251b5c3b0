"""Every count a run prints says what it counts (new-user trial): plurals, unreadable videos in the
decode stage's line, and sequence mode counting only the frames of complete sequences.

Object level's crops against images: tests/integration/test_object_level.py and
tests/unit/test_run_result.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import lightly_ray
from tests.data.grouped_images import FAST_MODEL, group_image
from tests.data.videos import FORMATS, make_video

pytestmark = pytest.mark.usefixtures("ray_instance")
LENGTH = 5


def test_a_sequence_run_counts_frames_of_complete_sequences(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """12 frames make 2 sequences of 5 (2 trailing frames); the image and a broken video are in none."""
    root = tmp_path / "input"
    root.mkdir()
    (root / "still.png").write_bytes(group_image(0, 0))
    (root / "same.png").write_bytes(group_image(0, 0))  # an exact duplicate of still.png
    _, codec, options = FORMATS["mp4-h264-bframes"]
    make_video(root / "a.mp4", codec, options, 12)
    (root / "broken.mov").write_bytes(b"not a video at all")
    with caplog.at_level(logging.INFO, logger="lightly_ray"):
        result = lightly_ray.run(
            root,
            tmp_path / "lightly",
            worker_config={"selected_sequence_length": LENGTH},
            selection_config={
                "n_samples": LENGTH,
                "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
            },
            lightly_config=FAST_MODEL,
            show_progress=False,
        )
    selection = result.report["selection"]
    assert selection["unit"] == "frames"
    assert selection["sequences"] == {"length": LENGTH, "nCandidateFrames": 10, "nCandidateSequences": 2}
    summary = result.summary()
    assert "  input:      14 samples (0 corrupt, 1 exact duplicate); 1 video cannot be read" in summary
    assert "  requested:  5 frames\n" in summary
    selected = "5 frames (1 sequence of 5) of 10 frames in complete sequences (2 candidate sequences)"
    assert f"  selected:   {selected} (stopped: budget)" in summary
    # The decode stage's line names the unreadable video, as the summary does, in the right number.
    messages = [record.getMessage() for record in caplog.records]
    assert "14 samples: 0 corrupt, 1 exact duplicate, 1 video cannot be read; 13 candidates" in messages
    assert "2 videos: 12 frames, 1 cannot be read as videos" in messages
    assert "10 frames in 2 complete sequences of 5 are candidates (of 13 samples)" in messages
    assert "selected 5 of 5 requested frames (stopped: budget)" in messages
    assert "selected 1 sequence of 5 frames: sequence_information.json" in messages
