"""SampleNames reads Arrow strings as a list of names does, and views share the names."""

from __future__ import annotations

from bisect import bisect_left

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray import sample_names
from lightly_ray.sample_names import SampleNames, same_names

NAMES = [f"folder-{i % 7}/image_{i:05d}.png" for i in range(1000)] + ["ünïcödé/ß.png", ""]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 64 rows, so that reads, takes and views cross chunk boundaries."""
    monkeypatch.setattr(sample_names, "CHUNK_ROWS", 64)


@pytest.mark.parametrize(
    "values",
    [
        NAMES,
        np.array(NAMES, dtype=object),
        pa.array(NAMES, pa.large_string()),
        pa.chunked_array([pa.array(NAMES[:300]), pa.array(NAMES[300:])]),
    ],
    ids=["list", "object array", "large_string", "chunked"],
)
def test_reads_as_the_list_it_was_made_from(values: object) -> None:
    names = SampleNames(values)  # type: ignore[arg-type]
    assert len(names) == len(NAMES)
    assert list(names) == NAMES and names.tolist() == NAMES
    assert [names[i] for i in range(len(NAMES))] == NAMES
    assert names[-1] == NAMES[-1] and names[-len(NAMES)] == NAMES[0]
    assert names.arrow.type == pa.string()
    assert names == NAMES and names == SampleNames(NAMES) and names != NAMES[:-1]
    with pytest.raises(IndexError):
        names[len(NAMES)]
    with pytest.raises(IndexError):
        names[-len(NAMES) - 1]


def test_slices_masks_and_rows_are_views_that_read_like_a_list() -> None:
    names = SampleNames(NAMES)
    rng = np.random.default_rng(0)
    mask = rng.random(len(NAMES)) < 0.3
    rows = rng.integers(-len(NAMES), len(NAMES), 500)
    as_array = np.array(NAMES, dtype=object)
    assert names[mask] == as_array[mask].tolist()
    assert names[rows] == as_array[rows].tolist()
    assert names[10:700] == NAMES[10:700] and names[::7] == NAMES[::7] and names[5:2] == []
    view = names[rows]
    inner = np.array([3, 0, 499, 3])
    assert view[inner] == as_array[rows][inner].tolist()  # a view of a view
    assert view.take(inner).arrow.to_pylist() == as_array[rows][inner].tolist()
    assert view.arrow.to_pylist() == as_array[rows].tolist()
    assert view._rows is not None and view._chunks is names._chunks  # no name was copied
    with pytest.raises(IndexError):
        names[np.ones(3, dtype=bool)]
    with pytest.raises(IndexError):
        names.at_rows(np.array([len(NAMES)]))


def test_rows_of_finds_each_name_or_minus_one() -> None:
    ordered = sorted(NAMES)
    names = SampleNames(ordered)
    wanted = [ordered[500], "not/there.png", ordered[0], ordered[-1], ordered[500]]
    assert names.rows_of(wanted).tolist() == [500, -1, 0, len(ordered) - 1, 500]
    assert names.rows_of(SampleNames(wanted)).tolist() == [500, -1, 0, len(ordered) - 1, 500]
    shuffled = SampleNames(NAMES[::-1])  # not sorted: sorted for the lookup
    assert shuffled.rows_of([NAMES[0]]).tolist() == [len(NAMES) - 1]
    assert bisect_left(names, ordered[321]) == 321  # a Sequence: bisect reads names one at a time


def test_concat_same_names_and_nulls() -> None:
    first, second = SampleNames(NAMES[:10]), SampleNames(NAMES[10:20])
    assert SampleNames.concat([first, second[np.arange(10)], SampleNames()]) == NAMES[:20]
    assert same_names(first, NAMES[:10]) and same_names(NAMES[:10], first)
    assert same_names(NAMES[:3], NAMES[:3]) and not same_names(first, NAMES[1:11])
    assert "image_00003" in repr(SampleNames(NAMES[3:4])) and "10 names" in repr(first)
    with pytest.raises(ValueError, match="null"):
        SampleNames(pa.array(["a", None]))


def test_strictly_ascending_is_checked_across_chunks_and_views() -> None:
    ordered = sorted(set(NAMES))
    assert SampleNames(ordered).strictly_ascending() and SampleNames().strictly_ascending()
    assert SampleNames(ordered)[np.arange(0, len(ordered), 3)].strictly_ascending()
    repeated = [*ordered[:100], ordered[99], *ordered[100:]]  # equal neighbours at row 100
    assert not SampleNames(repeated).strictly_ascending()
    swapped = [*ordered[:64], ordered[65], ordered[64], *ordered[66:]]  # across a chunk's end
    assert not SampleNames(swapped).strictly_ascending()
