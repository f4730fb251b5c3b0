from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lightly_ray.formats.problems import FieldError
from lightly_ray.formats.rle import check_rle, rle_decode, rle_encode

EXAMPLE = [[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 0, 1]]


def test_documented_example() -> None:
    assert rle_encode(EXAMPLE) == [2, 2, 1, 3, 3, 1]
    np.testing.assert_array_equal(rle_decode([2, 2, 1, 3, 3, 1], 3, 4), np.array(EXAMPLE, dtype=bool))


def test_mask_starting_with_one_has_an_empty_first_run() -> None:
    assert rle_encode([[1, 1], [0, 0]]) == [0, 2, 2]
    assert rle_encode([[0, 0], [0, 0]]) == [4]
    assert rle_encode([[1]]) == [0, 1]


def test_decode_accepts_zero_runs_in_the_middle() -> None:
    np.testing.assert_array_equal(rle_decode([1, 0, 2, 1], 1, 4), np.array([[0, 0, 0, 1]], dtype=bool))


def test_decode_rejects_wrong_total_and_negative_runs() -> None:
    with pytest.raises(ValueError, match=r"add up to 5, expected 2 \* 2 = 4"):
        rle_decode([2, 3], 2, 2)
    with pytest.raises(ValueError, match="non-negative"):
        rle_decode([5, -1], 2, 2)


@settings(max_examples=200, deadline=None)
@given(arrays(dtype=np.bool_, shape=st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_round_trip(mask: np.ndarray) -> None:
    runs = rle_encode(mask)
    assert sum(runs) == mask.size
    assert all(run > 0 for run in runs[1:])
    np.testing.assert_array_equal(rle_decode(runs, *mask.shape), mask)


def test_check_rle_with_and_without_size() -> None:
    assert check_rle([2, 2, 1, 3, 3, 1], "s", (4, 3)) == (2, 2, 1, 3, 3, 1)
    assert check_rle([2, 2, 1, 3, 3, 1], "s") == (2, 2, 1, 3, 3, 1)
    with pytest.raises(
        FieldError, match=r"^s: expected run lengths adding up to width \* height = 5 \* 3 = 15, got 12$"
    ):
        check_rle([2, 2, 1, 3, 3, 1], "s", (5, 3))


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        ([], "s", "expected a non-empty list of run lengths (RLE), got a list of 0 items"),
        ("2,2", "s", 'expected a non-empty list of run lengths (RLE), got "2,2"'),
        ([2, -1], "s[1]", "expected a non-negative integer run length, got -1"),
        ([2, 1.5], "s[1]", "expected a non-negative integer run length, got 1.5"),
        ([2, True], "s[1]", "expected a non-negative integer run length, got true"),
        ([0], "s", "expected run lengths adding up to a positive number of pixels, got 0"),
    ],
)
def test_check_rle_errors(value: object, key: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_rle(value, "s")
    assert (caught.value.key, caught.value.message) == (key, message)
