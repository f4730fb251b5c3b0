from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray.pipeline.chunked_take import take, take_in_slices


def _chunked(values: list[str | None], sizes: list[int], kind: pa.DataType) -> pa.ChunkedArray:
    chunks, start = [], 0
    for size in sizes:
        chunks.append(pa.array(values[start : start + size], kind))
        start += size
    return pa.chunked_array(chunks, kind)


@pytest.mark.parametrize("sizes", [[50], [0, 7, 0, 20, 1, 22, 0], [10, 10, 10, 10, 10]])
@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_take_equals_arrows_take_in_any_order_with_repeats(sizes: list[int], kind: pa.DataType) -> None:
    values: list[str | None] = [f"name-{index:03d}" for index in range(50)]
    values[13] = None
    column = _chunked(values, sizes, kind)
    rng = np.random.default_rng(sum(sizes) + len(sizes))
    for rows in (
        rng.integers(0, 50, 200),  # repeats, any order
        np.arange(50),  # grouped by chunk
        np.arange(50)[::-1],
        np.array([49, 0, 13]),
        np.zeros(0, dtype=np.int64),
    ):
        got = take(column, rows)
        assert isinstance(got, pa.Array) and got.type == kind
        assert got.to_pylist() == [values[row] for row in rows.tolist()]
        assert got.equals(column.take(pa.array(rows, pa.int64())).combine_chunks())


def test_take_of_numbers_and_of_a_plain_array_and_out_of_range_rows() -> None:
    column = pa.chunked_array([pa.array([1, 2, 3], pa.int64()), pa.array([4, 5], pa.int64())])
    assert take(column, np.array([4, 0, 3, 3])).to_pylist() == [5, 1, 4, 4]
    assert take(pa.array(["a", "b"]), np.array([1, 0])).to_pylist() == ["b", "a"]
    assert take(pa.chunked_array([], pa.string()), np.zeros(0, dtype=np.int64)).to_pylist() == []
    for rows in (np.array([5]), np.array([-1])):
        with pytest.raises(IndexError, match=r"\[0, 5\)"):
            take(column, rows)


def test_take_in_slices_permutes_and_casts_slice_by_slice() -> None:
    values = [f"h{index}" for index in range(23)]
    column = _chunked(values, [5, 9, 0, 9], pa.large_string())
    order = np.random.default_rng(3).permutation(23)
    taken = take_in_slices(column, order, 4, pa.string())
    assert taken.type == pa.string() and taken.num_chunks == 6
    assert taken.to_pylist() == [values[row] for row in order.tolist()]
    assert take_in_slices(column, np.zeros(0, dtype=np.int64), 4).to_pylist() == []
