"""The embedding matrix in a mapped file: put in order on disk, read without keeping its pages."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.array_utils import byte_bounds

from lightly_ray import mapped_pages
from lightly_ray.mapped_pages import is_mapped, release_all, release_pages, take_rows
from lightly_ray.pipeline import matrix_file
from lightly_ray.pipeline.matrix_file import MatrixFile
from lightly_ray.pipeline.spilled_columns import ScratchFolder
from lightly_ray.selection.kernels import farthest_first, farthest_first_weighted
from lightly_ray.selection.kernels import state as state_module

DIM = 32
ROWS = 40_000  # 5 MB: above SPILL_MIN_BYTES, so the result is mapped


def resident_bytes(values: np.ndarray) -> int:
    """Bytes of the pages `values` covers that are mapped in this process now (/proc/self/pagemap)."""
    if not values.nbytes:
        return 0
    low, high = byte_bounds(values)
    first = low // mmap.PAGESIZE * mmap.PAGESIZE
    count = -(-(high - first) // mmap.PAGESIZE)
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(first // mmap.PAGESIZE * 8)
        entries = np.frombuffer(pagemap.read(count * 8), dtype=np.uint64)
    return int(((entries >> np.uint64(63)) & np.uint64(1)).sum()) * mmap.PAGESIZE


def _written(rows: int, block: int = 1_000, seed: int = 0) -> tuple[MatrixFile, np.ndarray, ScratchFolder]:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((rows, DIM)).astype(np.float32)
    folder = ScratchFolder()
    written = MatrixFile(folder)
    for start in range(0, rows, block):
        written.add(values[start : start + block])
    return written, values, folder


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts and ranges of a few hundred rows, so that a test matrix has many of each."""
    monkeypatch.setattr(matrix_file, "PART_BYTES", 300 * DIM * 4)
    monkeypatch.setattr(matrix_file, "RANGE_BYTES", 700 * DIM * 4)


@pytest.mark.usefixtures("small_parts")
def test_rows_in_order_equals_fancy_indexing_and_is_mapped_not_resident() -> None:
    written, values, folder = _written(ROWS)
    rng = np.random.default_rng(1)
    sources = rng.permutation(ROWS)[: ROWS - 123]  # some rows left out, as corrupt files are
    ordered = written.rows_in_order(sources)
    assert is_mapped(ordered)
    assert resident_bytes(ordered) == 0  # each range's pages were handed back
    np.testing.assert_array_equal(ordered, values[sources])
    assert list(Path(folder.path).iterdir()) == []  # both files unlinked: the mapping holds the data
    assert resident_bytes(ordered) > 0  # reading it brought pages in ...
    release_all()
    assert resident_bytes(ordered) == 0  # ... that go back, the values stay
    np.testing.assert_array_equal(ordered[-5:], values[sources[-5:]])


def test_rows_in_order_small_empty_and_bad_input() -> None:
    written, values, _ = _written(100, block=7)
    small = written.rows_in_order(np.array([5, 99, 0]))
    assert not is_mapped(small)  # under SPILL_MIN_BYTES: in memory
    np.testing.assert_array_equal(small, values[[5, 99, 0]])
    written, _, _ = _written(10)
    assert written.rows_in_order(np.array([], dtype=np.int64)).shape == (0, DIM)
    written, _, _ = _written(10)
    with pytest.raises(ValueError, match="distinct"):
        written.rows_in_order(np.array([1, 1]))
    written, _, _ = _written(10)
    with pytest.raises(ValueError, match="width 3 after embeddings of width 32"):
        written.add(np.zeros((2, 3), dtype=np.float32))


def test_take_rows_reads_a_mapped_matrix_without_keeping_its_pages() -> None:
    written, values, _ = _written(ROWS)
    mapped = written.rows_in_order(np.arange(ROWS))
    rng = np.random.default_rng(2)
    cases = {
        "a few rows, read through the file": rng.choice(ROWS, 50, replace=False),
        "a slice, one read": np.arange(1_000, 9_000),
        "many rows, a part at a time": rng.choice(ROWS, ROWS // 2, replace=False),
        "negative and repeated": np.array([-1, 3, 3, -ROWS]),
    }
    for label, rows in cases.items():
        np.testing.assert_array_equal(take_rows(mapped, rows), values[rows], err_msg=label)
        assert resident_bytes(mapped) == 0, label
    view = mapped[100:200]  # a view of the mapping is read the same way
    np.testing.assert_array_equal(take_rows(view, np.array([0, 99])), values[[100, 199]])
    mask = np.zeros(ROWS, dtype=bool)
    mask[[7, 8]] = True
    np.testing.assert_array_equal(take_rows(mapped, mask), values[mask])
    assert resident_bytes(mapped) == 0
    with pytest.raises(IndexError):
        take_rows(mapped, np.array([ROWS]))
    assert take_rows(mapped, np.array([], dtype=np.int64)).shape == (0, DIM)
    in_memory = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(take_rows(in_memory, np.array([3, 0])), in_memory[[3, 0]])


def test_release_pages_hands_back_the_pages_of_a_view_only() -> None:
    written, _, _ = _written(ROWS)
    mapped = written.rows_in_order(np.arange(ROWS))
    assert is_mapped(mapped[10:20]) and not is_mapped(np.zeros((3, DIM)))
    float(mapped.sum())
    whole = resident_bytes(mapped)
    assert whole >= mapped.nbytes
    release_pages(mapped[: ROWS // 2])
    assert 0 < resident_bytes(mapped) < whole
    release_pages(np.zeros((3, DIM)))  # memory: nothing to do
    release_all()
    assert resident_bytes(mapped) == 0


def test_mappings_are_forgotten_with_their_arrays() -> None:
    written, _, _ = _written(ROWS)
    mapped = written.rows_in_order(np.arange(ROWS))
    count = len(mapped_pages._live())
    del mapped
    assert len(mapped_pages._live()) == count - 1


def test_selection_kernels_on_a_mapped_matrix_pick_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passes go a part at a time (small parts here), centers are read through the file."""
    monkeypatch.setattr(state_module, "_PART_BYTES", 1 << 20)
    written, values, _ = _written(ROWS)
    mapped = written.rows_in_order(np.arange(ROWS))
    assert len(state_module._block_ranges(mapped, -(-ROWS // state_module._BLOCK_ROWS))) > 1
    expected = farthest_first(values, 60)
    result = farthest_first(mapped, 60)
    np.testing.assert_array_equal(result.indices, expected.indices)
    np.testing.assert_array_equal(result.min_distances_at_pick, expected.min_distances_at_pick)
    assert resident_bytes(mapped) <= (1 << 20) + 2 * (2 << 20)  # at most a part and its edges
    weights = np.random.default_rng(3).random(ROWS)
    expected = farthest_first_weighted(values, weights, 25)
    result = farthest_first_weighted(mapped, weights, 25)
    np.testing.assert_array_equal(result.indices, expected.indices)


def test_a_full_scratch_disk_says_where_and_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    written, _, folder = _written(10)

    def full(data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(written._file, "write", full)
    with pytest.raises(OSError, match=r"scratch folder .*No space left on device.*Set TMPDIR") as caught:
        written.add(np.zeros((2, DIM), dtype=np.float32))
    assert str(folder.path) in str(caught.value)


def test_rows_in_file_copies_rows_to_a_new_mapped_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix_file, "PART_BYTES", 1_000 * DIM * 4)  # several parts
    written, values, _ = _written(ROWS)
    mapped = written.rows_in_order(np.arange(ROWS))  # in order already: the file is mapped as it is
    np.testing.assert_array_equal(mapped, values)
    release_all()
    rows = np.flatnonzero(np.random.default_rng(4).random(ROWS) < 0.6)
    copied = matrix_file.rows_in_file(mapped, rows)
    assert is_mapped(copied) and not np.shares_memory(copied, mapped)
    assert resident_bytes(copied) == 0 and resident_bytes(mapped) == 0
    np.testing.assert_array_equal(copied, values[rows])
    small = matrix_file.rows_in_file(values, np.array([3, 1]))
    assert not is_mapped(small)
    np.testing.assert_array_equal(small, values[[3, 1]])
