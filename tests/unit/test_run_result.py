from __future__ import annotations

from lightly_ray.run_result import selection_line


def test_the_selection_line_says_what_was_picked() -> None:
    assert selection_line(12, 0, 12, on_crops=False) == "selected 12 of 12 requested samples"
    assert selection_line(35, 0, 35, on_crops=True) == "selected 35 of 35 requested crops"


def test_the_selection_line_counts_the_preselected_toward_the_request() -> None:
    line = selection_line(5, 10, 15, on_crops=False)
    assert line == "selected 5 samples beside the 10 preselected from the dataset: 15 of 15 requested"
