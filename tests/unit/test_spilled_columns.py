from __future__ import annotations

import gc
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lightly_ray.datasets.datapool import DatapoolPlan
from lightly_ray.pipeline.row_moves import release_free_memory
from lightly_ray.pipeline.spilled_columns import (
    ScratchFolder,
    SpilledColumns,
    drop_mapped_pages,
    mapped_table,
)
from lightly_ray.run_steps import map_listing
from lightly_ray.selection.data import ColumnsAtRows


def test_large_numeric_columns_go_to_files_and_read_back_read_only() -> None:
    values = np.arange(1000, dtype=np.float64)
    columns = SpilledColumns(
        {
            "sharpness": values,
            "tiny": np.arange(3, dtype=np.int64),
            "video": np.array(["a.mp4", ""] * 500, dtype=object),
            "constant": np.broadcast_to(np.array([-1]), (1000,)),
        },
        min_bytes=1024,
    )
    assert columns.spilled == ("sharpness",)
    assert list(columns) == ["sharpness", "tiny", "video", "constant"]
    read = columns["sharpness"]
    assert isinstance(read, np.memmap)
    np.testing.assert_array_equal(read, values)
    assert not read.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        read[0] = 5.0
    np.testing.assert_array_equal(columns["sharpness"][[3, 1]], [3.0, 1.0])
    assert columns["video"] is not None and columns["video"][0] == "a.mp4"
    assert columns.get("missing") is None
    with pytest.raises(KeyError):
        columns["missing"]


def test_spilled_columns_keep_their_dtype_and_shape_and_read_the_same_from_many_threads() -> None:
    """Boxes (int32, 2-d), flags, float32 vectors and a Fortran-ordered array come back as given,
    also when threads read them at once, as the crop writers and the report's thread do."""
    rng = np.random.default_rng(0)
    given = {
        "crop_box": rng.integers(0, 1000, (500, 4)).astype(np.int32),
        "ok": rng.random(2000) > 0.5,
        "vectors": rng.random((300, 8)).astype(np.float32),
        "fortran": np.asfortranarray(rng.random((50, 20))),
    }
    columns = SpilledColumns(given, min_bytes=1)
    assert set(columns.spilled) == set(given)
    for name, values in given.items():
        read = columns[name]
        assert (read.dtype, read.shape) == (values.dtype, values.shape)
        np.testing.assert_array_equal(read, values)

    def read_rows(seed: int) -> bool:
        picks = np.random.default_rng(seed).integers(0, 500, 200)
        return all(np.array_equal(columns["crop_box"][row], given["crop_box"][row]) for row in picks)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(read_rows, range(32)))


def test_assigning_keeps_the_array_in_memory_and_deleting_forgets_it() -> None:
    columns = SpilledColumns({"width": np.arange(100, dtype=np.int64)}, min_bytes=1)
    assert columns.spilled == ("width",)
    columns["width"] = np.zeros(100, dtype=np.int64)
    assert columns.spilled == ()
    assert not columns["width"].any()
    columns.add("height", np.ones(100, dtype=np.int64))
    assert columns.spilled == ("height",)
    assert dict(columns.items()).keys() == {"width", "height"}
    del columns["height"]
    assert list(columns) == ["width"] and len(columns) == 1
    with pytest.raises(KeyError):
        del columns["height"]


def test_the_scratch_folder_goes_with_its_last_user_and_a_held_mapping_stays_readable() -> None:
    folder = ScratchFolder()
    path = folder.path
    columns = SpilledColumns({"snr": np.arange(512, dtype=np.float64)}, folder, min_bytes=1)
    held = columns["snr"]
    del folder, columns
    gc.collect()
    assert not path.exists()
    assert float(held[511]) == 511.0  # the mapping outlives its file


def test_columns_at_rows_read_the_source_at_each_access() -> None:
    source = SpilledColumns({"sharpness": np.arange(10, dtype=np.float64) * 2}, min_bytes=1)
    columns = ColumnsAtRows(source, ["sharpness", "snr"], np.array([7, 2]))
    assert list(columns) == ["sharpness", "snr"] and len(columns) == 2 and columns.row_count == 2
    read = columns["sharpness"]
    assert type(read) is np.ndarray and read.tolist() == [14.0, 4.0]  # a copy, not the file's map
    assert columns["snr"].tolist() == [0.0, 0.0]  # offered but not gathered: zeros
    source["sharpness"] = np.ones(10)
    assert columns["sharpness"].tolist() == [1.0, 1.0]
    with pytest.raises(KeyError):
        columns["width"]


def test_a_mapped_table_has_the_same_values_and_the_plan_takes_the_mapped_listing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listing = pa.table(
        {
            "name": pa.chunked_array([pa.array(["a.png", "b.png"]), pa.array(["c.mp4"])]),
            "size": pa.chunked_array([pa.array([1, 2]), pa.array([3])]),
        }
    )
    monkeypatch.setattr("lightly_ray.pipeline.spilled_columns.SPILL_MIN_BYTES", 1)
    mapped = mapped_table(listing)
    assert mapped is not listing and mapped.equals(listing) and mapped.column("name").num_chunks == 2
    plan = DatapoolPlan(to_process=listing)
    assert map_listing(listing, plan).equals(listing) and plan.to_process is not listing
    other = DatapoolPlan(to_process=listing.slice(1))  # a datapool rerun's own rows stay as they are
    map_listing(listing, other)
    assert other.to_process.num_rows == 2
    monkeypatch.setattr("lightly_ray.pipeline.spilled_columns.SPILL_MIN_BYTES", listing.nbytes + 1)
    assert mapped_table(listing) is listing


def _resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_dropping_a_mapped_tables_pages_gives_their_memory_back_and_keeps_the_values() -> None:
    values = np.arange(16_000_000, dtype=np.int64)  # 128 MB
    mapped = mapped_table(pa.table({"value": values}))
    total = int(values.sum())
    del values
    release_free_memory()
    before_read = _resident_bytes()
    assert pc.sum(mapped.column("value")).as_py() == total  # every page read: resident now
    read = _resident_bytes()
    assert read - before_read > 100e6
    drop_mapped_pages()
    assert read - _resident_bytes() > 100e6  # back in the page cache, not the process's
    assert pc.sum(mapped.column("value")).as_py() == total  # and read again from there
    assert mapped.column("value")[12_345_678].as_py() == 12_345_678
