"""Looking strings up by sorting (pipeline/sorted_lookup.py) answers as `pc.index_in` does."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lightly_ray.pipeline import sorted_lookup
from lightly_ray.pipeline.sorted_lookup import SortedStrings


def _index_in(wanted: pa.Array | pa.ChunkedArray, values: pa.Array | pa.ChunkedArray) -> list[int]:
    found = pc.index_in(pc.cast(wanted, pa.large_string()), value_set=pc.cast(values, pa.large_string()))
    return [-1 if value is None else value for value in found.to_pylist()]


@pytest.mark.parametrize("lookup_rows", [1, 3, 50, 1 << 16])
def test_positions_match_index_in(monkeypatch: pytest.MonkeyPatch, lookup_rows: int) -> None:
    monkeypatch.setattr(sorted_lookup, "LOOKUP_ROWS", lookup_rows)
    rng = np.random.default_rng(0)
    pool = [f"dir-{value % 7}/file_{value:05d}.jpg" for value in rng.integers(0, 400, 300)]
    values = pa.chunked_array([pool[:120], pool[120:]], pa.string())  # repeats: the first counts
    wanted = pa.array([f"dir-{value % 7}/file_{value:05d}.jpg" for value in rng.integers(0, 500, 250)])
    wanted = pa.concat_arrays([wanted, pa.array(["", "zzz", "dir-0/file_"], pa.string())])
    positions = SortedStrings(values).positions(pc.cast(wanted, pa.large_string()))
    assert positions.dtype == np.int64
    assert positions.tolist() == _index_in(wanted, values)
    assert (positions >= 0).sum() > 50 and (positions < 0).sum() > 50  # both kinds were exercised


def _range_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the value ranges `positions` hands to `index_in`, as it looks strings up."""
    seen: list[int] = []
    original = pc.index_in

    def counted(part: pa.Array, value_set: pa.Array) -> pa.Array:
        seen.append(len(value_set))
        return original(part, value_set=value_set)

    monkeypatch.setattr(sorted_lookup.pc, "index_in", counted)
    return seen


def test_sparse_wanted_strings_split_their_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """Few wanted strings spread over many values: slices are halved until their range is small."""
    monkeypatch.setattr(sorted_lookup, "LOOKUP_ROWS", 4)
    monkeypatch.setattr(sorted_lookup, "SPARSE_RANGE", 1)
    values = pa.array([f"{index:06d}" for index in range(1000)])
    wanted = pa.array([f"{index:06d}" for index in range(0, 1000, 97)] + ["x"])
    seen = _range_sizes(monkeypatch)
    assert SortedStrings(values).positions(wanted).tolist() == [*range(0, 1000, 97), -1]
    assert seen and max(seen) <= sorted_lookup.RANGE_FACTOR * 4


def test_few_wanted_strings_read_values_near_them_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handful of names among many values: ranges shrink with the names' count, not the slice size."""
    monkeypatch.setattr(sorted_lookup, "SPARSE_RANGE", 8)
    values = pa.array([f"{index:07d}" for index in range(200_000)])
    wanted = pa.array([f"{index:07d}" for index in range(3, 200_000, 9_973)] + ["9999999x"])
    seen = _range_sizes(monkeypatch)
    assert SortedStrings(values).positions(wanted).tolist() == [*range(3, 200_000, 9_973), -1]
    assert sum(seen) <= 21 * sorted_lookup.RANGE_FACTOR * 8  # not the 200,000 values


def test_empty_sides_and_nulls() -> None:
    assert SortedStrings(pa.array(["a"])).positions(pa.array([], pa.string())).tolist() == []
    assert SortedStrings(pa.array([], pa.string())).positions(pa.array(["a"])).tolist() == [-1]
    with pytest.raises(ValueError, match="nulls"):
        SortedStrings(pa.array(["a"])).positions(pa.array(["a", None]))
    with pytest.raises(ValueError, match="nulls"):
        SortedStrings(pa.array(["a", None]))


@pytest.mark.parametrize("check_rows", [1, 2, 5, 1 << 16])
def test_sorted_values_are_recognised_across_slices_and_chunks(
    monkeypatch: pytest.MonkeyPatch, check_rows: int
) -> None:
    monkeypatch.setattr(sorted_lookup, "SORTED_CHECK_ROWS", check_rows)
    names = [f"site-{index // 3}/frame_{index:04d}.jpg" for index in range(12)]
    ascending = pa.chunked_array([names[:5], names[5:], []], pa.string())
    assert sorted_lookup.is_sorted(ascending)
    assert sorted_lookup.is_sorted(pa.array(["a", "a", "b"]))  # equal neighbours are in order
    assert sorted_lookup.is_sorted(pa.array([], pa.string())) and sorted_lookup.is_sorted(pa.array(["x"]))
    for swapped in (0, 4, 5, 10):  # inside a chunk, and across the chunks' boundary (4 and 5)
        wrong = names.copy()
        wrong[swapped], wrong[swapped + 1] = wrong[swapped + 1], wrong[swapped]
        assert not sorted_lookup.is_sorted(pa.chunked_array([wrong[:5], wrong[5:]], pa.string()))
    # Sorted values keep their own order and are not sorted again; unsorted ones are.
    sorts: list[int] = []
    original = pc.sort_indices

    def counted(*args: object, **kwargs: object) -> pa.Array:
        sorts.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pc, "sort_indices", counted)
    index = SortedStrings(ascending)
    assert index.order.tolist() == list(range(12)) and not sorts
    assert index.positions(pa.array([names[7], "nope", names[0]])).tolist() == [7, -1, 0]
    shuffled = pa.array([names[3], names[1], names[2]])
    assert SortedStrings(shuffled).order.tolist() == [1, 2, 0] and sorts
