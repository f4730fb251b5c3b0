"""Gathering embedded blocks on the driver: in-place row moves, sorting, duplicates, Arrow columns."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES
from lightly_ray.datasets.datapool import DatapoolPlan
from lightly_ray.datasets.rows import as_batch, embedding_matrix, processed_table
from lightly_ray.datasets.selection_pool import selection_pool
from lightly_ray.mapped_pages import is_mapped
from lightly_ray.pipeline import exact_duplicates, matrix_file
from lightly_ray.pipeline import gather as gather_module
from lightly_ray.pipeline.gather import METADATA_COLUMNS, gather_batches, vector_column
from lightly_ray.pipeline.row_moves import permute_rows
from lightly_ray.pipeline.spilled_columns import SpilledColumns

DIM = 6


@pytest.mark.parametrize("n", [0, 1, 2, 7, 500])
def test_permute_rows_matches_fancy_indexing(n: int) -> None:
    rng = np.random.default_rng(n)
    matrix = rng.standard_normal((n, DIM)).astype(np.float32)
    order = rng.permutation(n)
    expected = matrix[order]
    permute_rows(matrix, order)
    np.testing.assert_array_equal(matrix, expected)


def test_permute_rows_refuses_what_is_no_permutation() -> None:
    matrix = np.zeros((3, DIM), dtype=np.float32)
    for order in ([0, 0, 1], [0, 1, 3], [0, 1]):
        with pytest.raises(ValueError, match="not a permutation"):
            permute_rows(matrix, np.array(order))
    with pytest.raises(ValueError, match="C-contiguous"):
        permute_rows(np.zeros((DIM, 3), dtype=np.float32).T, np.array([2, 1, 0]))


def _rows(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """`count` samples: every 7th corrupt, every 11th a byte copy of the sample before it."""
    rng = np.random.default_rng(seed)
    names = np.array([f"img/{index:05d}.png" for index in range(count)], dtype=object)
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    hashes = np.array([f"h{index}" for index in range(count)], dtype=object)
    corrupt = np.arange(count) % 7 == 3
    copies = (np.arange(count) % 11 == 5) & ~corrupt & ~np.roll(corrupt, 1)
    hashes[copies] = hashes[np.flatnonzero(copies) - 1]
    vectors[copies] = vectors[np.flatnonzero(copies) - 1]
    vectors[corrupt] = 0.0
    columns: dict[str, np.ndarray] = {
        "name": names,
        "size": rng.integers(1, 1000, count),
        "mtime_ns": np.arange(count, dtype=np.int64),
        "ok": ~corrupt,
        "error": np.where(corrupt, "broken", "").astype(object),
        "content_hash": np.where(corrupt, "", hashes).astype(object),
        "embedding": vectors,
        "video": np.full(count, "", dtype=object),
        "frame_index": np.full(count, -1, dtype=np.int64),
        "frame_pts": np.zeros(count, dtype=np.int64),
        "frame_seconds": np.zeros(count),
        "video_frames": np.zeros(count, dtype=np.int64),
    }
    for column in METADATA_COLUMNS:
        columns[column] = rng.random(count)
    return columns


def _blocks(columns: dict[str, np.ndarray], size: int, seed: int) -> list[dict[str, np.ndarray]]:
    count = len(columns["name"])
    starts = np.random.default_rng(seed).permutation(np.arange(0, count, size))
    return [{key: values[start : start + size] for key, values in columns.items()} for start in starts]


@pytest.mark.parametrize("expected_rows", [None, 10, 1000])
def test_gather_sorts_marks_duplicates_and_keeps_one_matrix(expected_rows: int | None) -> None:
    columns = _rows(400)
    gathered = gather_batches(
        _blocks(columns, 37, 1), remove_exact_duplicates=True, expected_rows=expected_rows
    )
    assert gathered.names.tolist() == columns["name"].tolist()  # made in name order
    np.testing.assert_array_equal(gathered.embeddings, columns["embedding"])
    corrupt = columns["error"] != ""
    copies = np.flatnonzero(columns["content_hash"][1:] == columns["content_hash"][:-1]) + 1
    copies = copies[columns["content_hash"][copies] != ""]
    assert len(copies) > 20
    assert gathered.duplicate_of[copies].tolist() == columns["name"][copies - 1].tolist()
    candidate = ~corrupt
    candidate[copies] = False
    np.testing.assert_array_equal(gathered.candidate, candidate)
    # Only candidates hold a row of their own; a copy shares its original's, a corrupt file none.
    assert len(gathered.vectors) == candidate.sum()
    assert (gathered.vector_row[copies] == gathered.vector_row[copies - 1]).all()
    assert (gathered.vector_row[corrupt] == -1).all()
    embeddings = gathered.candidate_embeddings()
    assert embeddings is gathered.vectors  # no copy
    np.testing.assert_array_equal(embeddings, columns["embedding"][candidate])
    np.testing.assert_array_equal(gathered.lightly_metadata["sharpness"], columns["lightly_sharpness"])


def test_gathered_metadata_and_frame_columns_go_to_scratch_files_from_a_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    columns = _rows(400)
    columns["video"] = np.where(np.arange(400) % 2 == 0, "clip.mp4", "").astype(object)
    columns["frame_index"] = np.where(np.arange(400) % 2 == 0, np.arange(400) // 2, -1)
    monkeypatch.setattr("lightly_ray.pipeline.spilled_columns.SPILL_MIN_BYTES", 400 * 8)
    gathered = gather_batches(_blocks(columns, 37, 1), remove_exact_duplicates=True)
    assert isinstance(gathered.lightly_metadata, SpilledColumns)
    assert isinstance(gathered.frames, SpilledColumns)
    assert gathered.lightly_metadata.spilled == tuple(LIGHTLY_METADATA_NAMES)
    assert gathered.frames.spilled == ("frame_index",)  # the video names, constants: in memory
    for name in LIGHTLY_METADATA_NAMES:
        np.testing.assert_array_equal(gathered.lightly_metadata[name], columns[f"lightly_{name}"])
    assert gathered.frames["frame_index"].tolist() == columns["frame_index"].tolist()
    assert gathered.frames["video"].tolist() == columns["video"].tolist()
    monkeypatch.setattr("lightly_ray.pipeline.spilled_columns.SPILL_MIN_BYTES", 400 * 8 + 1)
    small = gather_batches(_blocks(columns, 37, 1), remove_exact_duplicates=True)
    assert isinstance(small.lightly_metadata, SpilledColumns) and small.lightly_metadata.spilled == ()
    np.testing.assert_array_equal(small.lightly_metadata["snr"], gathered.lightly_metadata["snr"])


def test_gather_without_duplicate_removal_keeps_copies_as_candidates() -> None:
    columns = _rows(100)
    gathered = gather_batches(_blocks(columns, 9, 2), remove_exact_duplicates=False)
    np.testing.assert_array_equal(gathered.candidate, columns["error"] == "")
    assert (gathered.duplicate_of == "").all()
    np.testing.assert_array_equal(gathered.embeddings, columns["embedding"])


@pytest.mark.parametrize("min_run", [1, 3, 64, 10_000])
def test_embedding_column_is_every_row_with_runs_shared(
    monkeypatch: pytest.MonkeyPatch, min_run: int
) -> None:
    monkeypatch.setattr(gather_module, "MIN_SHARED_RUN", min_run)
    columns = _rows(300)
    gathered = gather_batches(_blocks(columns, 50, 3), remove_exact_duplicates=True)
    column = gathered.embedding_column()
    assert len(column) == 300
    flat = np.concatenate([chunk.flatten().to_numpy() for chunk in column.chunks]).reshape(300, DIM)
    np.testing.assert_array_equal(flat, columns["embedding"])
    if min_run <= 3:
        assert len(column.chunks) > 10  # slices between the corrupt rows and the copies


def test_candidate_embeddings_copy_once_candidates_are_restricted() -> None:
    columns = _rows(120)
    gathered = gather_batches(_blocks(columns, 16, 4), remove_exact_duplicates=True)
    gathered.candidate[:60] = False
    embeddings = gathered.candidate_embeddings()
    assert not np.shares_memory(embeddings, gathered.vectors)
    np.testing.assert_array_equal(embeddings, gathered.embeddings[gathered.candidate])
    pool = selection_pool(gathered, None)
    assert pool.names == gathered.candidate_names()
    np.testing.assert_array_equal(pool.embeddings, embeddings)
    np.testing.assert_array_equal(
        pool.lightly_metadata["snr"], gathered.lightly_metadata["snr"][gathered.candidate]
    )


def test_subset_keeps_rows_and_shared_duplicate_rows() -> None:
    columns = _rows(200)
    gathered = gather_batches(_blocks(columns, 30, 5), remove_exact_duplicates=True)
    mask = np.arange(200) % 3 != 0
    part = gathered.subset(mask)
    assert part.names.tolist() == gathered.names[mask].tolist()
    np.testing.assert_array_equal(part.embeddings, gathered.embeddings[mask])
    np.testing.assert_array_equal(part.candidate_embeddings(), gathered.embeddings[mask & gathered.candidate])


def test_processed_rows_gather_back_to_the_same_samples() -> None:
    columns = _rows(150)
    gathered = gather_batches(_blocks(columns, 20, 6), remove_exact_duplicates=True)
    listing = pa.table(
        {
            "name": pa.array(columns["name"][::2], pa.string()),  # half listed: the rest get size 0
            "size": pa.array(np.arange(75, dtype=np.int64) + 5),
            "mtime_ns": pa.array([None, *range(74)], pa.int64()),
        }
    )
    table = processed_table(gathered, listing, "run-1")
    assert table.column("name").to_pylist() == columns["name"].tolist()
    assert table.column("size").to_pylist()[:6] == [5, 0, 6, 0, 7, 0]
    assert table.column("mtime_ns").to_pylist()[:4] == [0, 0, 0, 0]
    assert set(table.column("run_id").to_pylist()) == {"run-1"}
    np.testing.assert_array_equal(embedding_matrix(table), columns["embedding"])
    again = gather_batches([as_batch(table)], remove_exact_duplicates=True)
    assert again.names.tolist() == gathered.names.tolist()
    np.testing.assert_array_equal(again.candidate, gathered.candidate)
    np.testing.assert_array_equal(again.embeddings, gathered.embeddings)


def test_a_corrupt_first_file_does_not_turn_the_column_into_a_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gather_module, "MIN_SHARED_RUN", 64)
    columns = _rows(300)
    columns["ok"][:] = True
    columns["error"][:] = ""
    columns["content_hash"] = np.array([f"unique{index}" for index in range(300)], dtype=object)
    columns["ok"][0], columns["error"][0], columns["content_hash"][0] = False, "broken", ""
    columns["embedding"][0] = 0.0
    gathered = gather_batches(_blocks(columns, 50, 7), remove_exact_duplicates=True)
    column = gathered.embedding_column()
    base, end = gathered.vectors.ctypes.data, gathered.vectors.ctypes.data + gathered.vectors.nbytes
    shared = [chunk for chunk in column.chunks if base <= chunk.flatten().buffers()[1].address < end]
    assert [len(chunk) for chunk in column.chunks] == [1, 299]  # the corrupt row, then a slice
    assert len(shared) == 1 and shared[0].flatten().buffers()[1].address == base
    flat = np.concatenate([chunk.flatten().to_numpy() for chunk in column.chunks]).reshape(300, DIM)
    np.testing.assert_array_equal(flat, columns["embedding"])


def test_long_string_columns_are_cast_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gather_module, "CAST_ROWS", 16)
    monkeypatch.setattr(gather_module, "HASH_TAKE_ROWS", 16)
    columns = _rows(100)
    gathered = gather_batches(_blocks(columns, 30, 8), remove_exact_duplicates=True)
    listing = pa.table({"name": pa.array(columns["name"], pa.string()), "size": np.ones(100, dtype=np.int64)})
    table = processed_table(
        gathered, listing.append_column("mtime_ns", pa.array(np.zeros(100, np.int64))), "r"
    )
    hashes = table.column("content_hash")
    assert hashes.type == pa.string() and hashes.num_chunks == 7
    assert hashes.to_pylist() == columns["content_hash"].tolist()


@pytest.mark.parametrize("slice_rows", [3, 16, 1 << 16])
def test_duplicates_match_a_reference_across_slices(monkeypatch: pytest.MonkeyPatch, slice_rows: int) -> None:
    """Copies anywhere in name order, several of one file, corrupt files with a hash: a dict's answer."""
    monkeypatch.setattr(gather_module, "CAST_ROWS", slice_rows)
    monkeypatch.setattr(gather_module, "HASH_TAKE_ROWS", slice_rows)
    monkeypatch.setattr(exact_duplicates, "COMPARE_ROWS", slice_rows)
    rng = np.random.default_rng(3)
    count = 200
    columns = _rows(count)
    hashes = np.array([f"h{value}" for value in rng.integers(0, 60, count)], dtype=object)  # many copies
    hashes[rng.random(count) < 0.1] = ""  # frames and unread files
    columns["content_hash"] = hashes  # corrupt rows keep a hash: they are still nobody's duplicate
    gathered = gather_batches(_blocks(columns, 17, 9), remove_exact_duplicates=True)
    first_of: dict[str, str] = {}
    expected = []
    for name, value, ok in zip(columns["name"], hashes, columns["ok"], strict=True):  # already sorted
        if not ok or not value:
            expected.append("")
            continue
        original = first_of.setdefault(value, name)
        expected.append("" if original == name else original)
    assert gathered.duplicate_of.tolist() == expected
    assert gathered.candidate.tolist() == [
        bool(ok) and not duplicate for ok, duplicate in zip(columns["ok"], expected, strict=True)
    ]


def test_frame_columns_without_videos_hold_one_value() -> None:
    """A run without videos: each frame column is a read-only view of one value, not n of them."""
    columns = _rows(40)
    gathered = gather_batches(_blocks(columns, 9, 10), remove_exact_duplicates=True)
    for name, values in gathered.frames.items():
        assert values.shape == (40,) and values.strides == (0,), name
        owner = values
        while owner.base is not None:
            owner = owner.base
        assert owner.size == 1, name  # no view of the sorted column keeps it alive
        assert not values.flags.writeable
    assert gathered.frames["frame_index"].tolist() == [-1] * 40
    some = gathered.subset(np.arange(40) % 3 == 0)
    assert some.frames["video"].tolist() == [""] * 14


def test_frame_columns_with_videos_are_kept_whole() -> None:
    columns = _rows(40)
    columns["video"] = np.where(np.arange(40) % 2 == 0, "clip.mp4", "").astype(object)
    columns["frame_index"] = np.where(np.arange(40) % 2 == 0, np.arange(40) // 2, -1)
    gathered = gather_batches(_blocks(columns, 9, 11), remove_exact_duplicates=True)
    assert gathered.frames["video"].tolist() == columns["video"].tolist()
    assert gathered.frames["frame_index"].tolist() == columns["frame_index"].tolist()
    assert gathered.frames["frame_pts"].strides == (0,)  # constant here too


def _videos_and_listing(count: int) -> tuple[dict[str, np.ndarray], pa.Table]:
    """Rows where every third is a frame of one of two videos, and a listing missing some files."""
    columns = _rows(count)
    frame = np.arange(count) % 3 == 0
    columns["video"] = np.where(frame, np.where(np.arange(count) % 2 == 0, "a.mp4", "b.mp4"), "").astype(
        object
    )
    columns["frame_index"] = np.where(frame, np.arange(count), -1)
    files = sorted({*columns["name"][~frame].tolist(), "a.mp4", "b.mp4"})[5:]  # five files not listed
    listing = pa.table(
        {
            "name": pa.array(files, pa.large_string()),
            "size": pa.array(np.arange(len(files), dtype=np.int64) + 100),
            "mtime_ns": pa.array(np.arange(len(files), dtype=np.int64) * 7),
        }
    )
    return columns, listing


def test_processed_slices_equal_the_whole_table() -> None:
    from lightly_ray.datasets.rows import ListingIndex, processed_rows, processed_slices

    columns, listing = _videos_and_listing(90)
    gathered = gather_batches(_blocks(columns, 13, 12), remove_exact_duplicates=True)
    whole = processed_table(gathered, listing, "run-1")
    assert (pa.compute.sum(whole.column("size")).as_py() or 0) > 0 and 0 in whole.column("size").to_pylist()
    index = ListingIndex(listing)
    rows = np.array([0, 4, 5, 17, 33, 89])
    assert processed_rows(gathered, index, "run-1", rows).equals(whole.take(pa.array(rows)))
    parts = list(processed_slices(gathered, index, "run-1", np.arange(90), 16))
    assert len(parts) == 6 and pa.concat_tables(parts).equals(whole)
    empty = list(processed_slices(gathered, index, "run-1", np.zeros(0, dtype=np.int64), 16))
    assert len(empty) == 1 and empty[0].num_rows == 0 and empty[0].schema.equals(whole.schema)


def test_spread_rows_are_looked_up_in_groups_with_the_pages_dropped_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lightly_ray.datasets import rows as rows_module
    from lightly_ray.datasets.rows import ListingIndex, processed_rows

    columns, listing = _videos_and_listing(90)
    gathered = gather_batches(_blocks(columns, 13, 12), remove_exact_duplicates=True)
    whole = processed_table(gathered, listing, "run-1")
    index = ListingIndex(listing)
    drops: list[int] = []
    monkeypatch.setattr(rows_module, "drop_mapped_pages", lambda: drops.append(1))
    monkeypatch.setattr(rows_module, "SPREAD_ROWS", 4)
    monkeypatch.setattr(rows_module, "SPREAD_GROUP", 3)
    spread = np.array([0, 9, 17, 30, 44, 52, 61, 75, 89, 2])  # 10 rows, 89 apart: 3 + 3 + 3 + 1
    assert processed_rows(gathered, index, "run-1", spread).equals(whole.take(pa.array(spread)))
    assert len(drops) == 4
    drops.clear()
    close = np.arange(20, 30)  # neighbours: one pass
    assert processed_rows(gathered, index, "run-1", close).equals(whole.take(pa.array(close)))
    assert len(drops) == 1


def test_rows_of_names_and_of_samples_processed_here() -> None:
    from lightly_ray.datasets.rows import processed_here_rows, rows_named, rows_named_in

    columns, listing = _videos_and_listing(60)
    gathered = gather_batches(_blocks(columns, 7, 13), remove_exact_duplicates=True)
    whole = processed_table(gathered, listing, "run-1")
    wanted = [str(columns["name"][row]) for row in (50, 3, 9)] + ["img/not-there.png", "zzz"]
    assert whole.take(pa.array(rows_named_in(gathered, wanted))).equals(rows_named(whole, wanted))
    assert rows_named_in(gathered, []).tolist() == []
    reused = pa.table({"name": pa.array([str(name) for name in columns["name"][::4]] + ["gone.png"])})
    expected = np.flatnonzero(
        ~pa.compute.is_in(whole.column("name"), value_set=reused.column("name")).to_numpy()
    )
    assert processed_here_rows(gathered, reused).tolist() == expected.tolist()
    assert processed_here_rows(gathered, None).tolist() == list(range(60))


def test_a_column_buffer_keeps_one_value_until_another_comes() -> None:
    from lightly_ray.pipeline.row_moves import ColumnBuffer

    constant = ColumnBuffer(100, np.int64)
    for block in (np.full(3, -1, dtype=np.int32), np.zeros(0, dtype=np.int64), np.full(4, -1)):
        constant.add(block)
    assert constant.is_constant and constant.values is None
    values = constant.result()
    assert values.tolist() == [-1] * 7 and values.strides == (0,) and values.dtype == np.int64
    assert not values.flags.writeable
    videos = ColumnBuffer(None, object)
    videos.add(np.array(["", ""], dtype=object))
    videos.add(np.array(["", "a.mp4", ""], dtype=object))  # another value: the rows so far are written
    videos.add(np.array([""], dtype=object))
    assert not videos.is_constant
    assert videos.result().tolist() == ["", "", "", "a.mp4", "", ""]
    changed = ColumnBuffer(2, np.float64)
    changed.add(np.array([0.5, 0.5]))
    changed.add(np.array([0.25]))  # one value in its block, but not the buffer's
    assert changed.result().tolist() == [0.5, 0.5, 0.25] and not changed.is_constant
    nan = ColumnBuffer(None, np.float64)
    nan.add(np.array([np.nan, np.nan]))
    assert not nan.is_constant and np.isnan(nan.result()).all()
    assert ColumnBuffer(None, np.int64).result().tolist() == []
    matrix = ColumnBuffer(None, np.float32)
    matrix.add(np.ones((2, 3), dtype=np.float32))
    assert not matrix.is_constant and matrix.result().shape == (2, 3)


def test_the_pools_videos_and_frames_are_views_without_videos_and_read_per_sample_with_them() -> None:
    columns = _rows(90)
    gathered = gather_batches(_blocks(columns, 30, 3), remove_exact_duplicates=True)
    pool = selection_pool(gathered, None)
    count = len(pool.names)
    assert len(pool.videos) == count and list(pool.videos) == [None] * count
    assert pool.videos[:2] == [None, None] and pool.videos[count - 1] is None
    with pytest.raises(IndexError):
        pool.videos[count]
    assert pool.frame_indices.strides == (0,) and (pool.frame_indices == -1).all()  # no copy per sample

    columns["video"] = np.array([f"v{row % 4}.mp4" if row % 3 else "" for row in range(90)], dtype=object)
    columns["frame_index"] = np.where(columns["video"] != "", np.arange(90), -1)
    gathered = gather_batches(_blocks(columns, 30, 3), remove_exact_duplicates=True)
    pool = selection_pool(gathered, None)
    rows = np.flatnonzero(gathered.candidate)
    expected = [str(video) or None for video in gathered.frames["video"][rows]]
    assert list(pool.videos) == expected and pool.videos[1:3] == expected[1:3]
    assert any(expected) and None in expected
    np.testing.assert_array_equal(pool.frame_indices, gathered.frames["frame_index"][rows])


@pytest.mark.parametrize("mapped", [False, True])
def test_the_pool_with_stored_samples_is_one_matrix_in_name_order(
    monkeypatch: pytest.MonkeyPatch, mapped: bool
) -> None:
    if mapped:  # every matrix mapped from a file, as a run's from 1 MB on
        monkeypatch.setattr(matrix_file, "SPILL_MIN_BYTES", 0)
    columns = _rows(300)
    gathered = gather_batches(_blocks(columns, 37, 2), remove_exact_duplicates=True)
    rng = np.random.default_rng(9)
    stored_names = [f"img/{index * 7:05d}b.png" for index in range(40)]  # between the run's names
    stored_vectors = rng.standard_normal((40, DIM)).astype(np.float32)
    stored = pa.table(
        {
            "name": pa.array(stored_names, pa.string()),
            "embedding": vector_column(stored_vectors),
            "video": pa.array([""] * 40, pa.string()),
            "frame_index": pa.array([-1] * 40, pa.int64()),
            **{column: pa.array(rng.random(40)) for column in METADATA_COLUMNS},
        }
    )
    pool = selection_pool(gathered, DatapoolPlan(to_process=pa.table({}), preselected=stored))
    candidates = gathered.candidate
    names = [*columns["name"][candidates].tolist(), *stored_names]
    vectors = np.concatenate([columns["embedding"][candidates], stored_vectors])
    order = np.argsort(np.array(names))
    assert pool.names.tolist() == [names[index] for index in order]
    np.testing.assert_array_equal(pool.embeddings, vectors[order])
    assert is_mapped(pool.embeddings) == mapped
    assert pool.names.take(pool.preselected).tolist() == stored_names
