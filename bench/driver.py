"""Benchmark what the run's driver process holds and how long its steps take at N samples.

N synthetic embedded rows (file names of realistic length, 128-d float32 embeddings, Lightly
metadata, sizes and hashes, with 0.1% corrupt files and 0.1% exact duplicates) reach the driver in
blocks of 1,000 rows in shuffled block order, as the embedding actors hand them over. They go
through the run's own steps, in the run's order, with the run's listing of the N files held
throughout (a run lists its input first and keeps the listing to the end):

* `gather`: `pipeline.gather.gather_batches` (sort by name, duplicates, the matrix);
* `pool`: `restrict_candidates`, `selection_pool` (the candidates selection sees) and
  `read_lightly_inputs` for them (from a lightly location without `.lightly/` files), after
  `datasets.datapool.plan_datapool` for a run without the datapool and the listing mapped from a
  scratch file (`run_steps.map_listing`), both before gathering as the run plans and maps before
  embedding (the plan is held to the end);
* `selection`: `selection.inputs.build_problem`, `selection.engine.select` and
  `selection.explain.explain_selection` (DIVERSITY on the embeddings, k picks);
* `report`: `report.run_report.report_samples` and `ReportInProgress` (the samples the report
  shows, the analysis started in its thread, the thumbnails asked for, from an empty input
  folder here), as the run starts them after selecting; the analysis runs while `write` does;
* `write`: the run folder's `embeddings.parquet`, `filenames/` lists, `selection.parquet` and
  `selection.csv` (`outputs.sample_files`), and the dataset's processed-rows and selected-samples
  Parquet files (`datasets.rows.processed_slices` and `processed_rows`,
  `datasets.annotations.annotate`, as `run_dataset.publish_run` makes them), all on local disk
  under a temporary folder; it ends when the report's analysis has finished too.

`peak_rss_mb` is the process's peak resident memory over the whole benchmark (sampled from
/proc/self/statm every 2 ms by a thread, and `ru_maxrss`, whichever is larger), including the
interpreter and its imports (`start_rss_mb`): those of `lightly_ray.run`, as a run's driver
makes them. `matrix_mb` is the float32 embedding matrix, `names_mb` the names as an Arrow string
array (offsets and bytes). `ratio` is `peak_rss_mb / (matrix_mb + names_mb)`; the target is at
most 1.5. Each stage reports its seconds and the RSS peak while it ran; per-row times across N
show whether a stage is linear.

Progress goes to stderr; the last line of stdout is one JSON object.

Run:
    .venv/bin/python bench/driver.py --n 2000000          # about 2 GB of RAM
    .venv/bin/python bench/driver.py --n 200000 --k 1000  # quick
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from rss_peak import RssPeak

import lightly_ray.run  # noqa: F401  (what a run's driver imports: its RSS is counted from there)
from lightly_ray.config.run_config import RunConfig
from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES, SelectionConfig
from lightly_ray.datasets.annotations import annotate
from lightly_ray.datasets.datapool import plan_datapool, restrict_candidates
from lightly_ray.datasets.rows import (
    ListingIndex,
    processed_here_rows,
    processed_rows,
    processed_slices,
    rows_named_in,
)
from lightly_ray.datasets.selection_pool import selection_pool
from lightly_ray.datasets.store import Dataset, DatasetState
from lightly_ray.formats.lightly_inputs import read_lightly_inputs
from lightly_ray.outputs.run_folder import PARQUET_ROW_GROUP, RunFolder
from lightly_ray.outputs.sample_files import write_sample_lists, write_selection_table
from lightly_ray.pipeline.decode import METADATA_COLUMN_PREFIX
from lightly_ray.pipeline.gather import gather_batches
from lightly_ray.pipeline.row_moves import release_free_memory
from lightly_ray.report.run_report import PictureSources, ReportInProgress, report_samples
from lightly_ray.run_steps import map_listing
from lightly_ray.selection.data import SelectionData
from lightly_ray.selection.engine import select
from lightly_ray.selection.explain import explain_selection
from lightly_ray.selection.inputs import build_problem
from lightly_ray.storage.location import Location

BLOCK_ROWS = 1000
DIM = 128
CORRUPT_FRACTION = 0.001
DUPLICATE_FRACTION = 0.001


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sample_names(ids: np.ndarray) -> np.ndarray:
    """Distinct paths like `site-07/2024-03-18/camera-12/frame_000123457.jpg` (48 chars) for ids."""
    return np.array(
        [
            f"site-{i % 23:02d}/2024-{1 + i % 12:02d}-{1 + i % 28:02d}/camera-{i % 17:02d}/frame_{i:09d}.jpg"
            for i in ids.tolist()
        ],
        dtype=object,
    )


NAME_CHARS = len(sample_names(np.zeros(1, dtype=np.int64))[0])


def blocks(n: int, seed: int) -> Iterator[dict[str, np.ndarray]]:
    """The embedded rows in blocks of BLOCK_ROWS, blocks in shuffled order, made as they are asked for."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n)  # names are not in row order
    starts = rng.permutation(np.arange(0, n, BLOCK_ROWS))
    corrupt = rng.random(n) < CORRUPT_FRACTION
    duplicate_of = np.where(rng.random(n) < DUPLICATE_FRACTION, rng.integers(0, n, n), -1)
    for start in starts.tolist():
        rows = np.arange(start, min(start + BLOCK_ROWS, n))
        count = len(rows)
        block_rng = np.random.default_rng([seed, start])
        vectors = block_rng.standard_normal((count, DIM), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        bad = corrupt[rows]
        vectors[bad] = 0.0
        hash_rows = np.where(duplicate_of[rows] >= 0, duplicate_of[rows], rows)
        batch: dict[str, np.ndarray] = {
            "name": sample_names(ids[rows]),
            "size": block_rng.integers(20_000, 400_000, count),
            "mtime_ns": np.full(count, 1_700_000_000_000_000_000, dtype=np.int64),
            "ok": ~bad,
            "error": np.where(bad, "cannot identify image file", "").astype(object),
            "content_hash": np.array([f"{row:032x}" for row in hash_rows.tolist()], dtype=object),
            "embedding": vectors,
            "video": np.full(count, "", dtype=object),
            "frame_index": np.full(count, -1, dtype=np.int64),
            "frame_pts": np.zeros(count, dtype=np.int64),
            "frame_seconds": np.zeros(count, dtype=np.float64),
            "video_frames": np.zeros(count, dtype=np.int64),
        }
        for name in LIGHTLY_METADATA_NAMES:
            batch[f"{METADATA_COLUMN_PREFIX}{name}"] = block_rng.random(count)
        yield batch


def listing_of(n: int) -> pa.Table:
    """The run's listing of the N files (name, size, mtime_ns), sorted by name as `list_images` returns it.

    A run lists its input before anything else and holds the listing to the end (the processed
    rows take each file's size and mtime from it), so it is made before gathering here too.
    """
    names = pa.chunked_array(
        [
            pa.array(sample_names(np.arange(start, min(start + 100_000, n))), pa.string())
            for start in range(0, n, 100_000)
        ]
    )
    table = pa.table(
        {
            "name": names,
            "size": pa.array(np.full(n, 100_000, dtype=np.int64)),
            "mtime_ns": pa.array(np.full(n, 1_700_000_000_000_000_000, dtype=np.int64)),
        }
    )
    return table.sort_by("name").combine_chunks()


def picture_sources(listing: pa.Table, input_folder: str) -> PictureSources:
    """Where the report reads its pictures, as `run.py` makes it for the run's listing."""
    return PictureSources(
        Location(input_folder, writable=False),
        Location(input_folder, writable=False),
        None,
        listing,
        "png",
    )


def run(n: int, k: int, seed: int) -> dict[str, Any]:
    stages: dict[str, dict[str, float]] = {}
    start_rss = RssPeak().rss()
    matrix_mb = n * DIM * 4 / 2**20
    names_mb = (n * NAME_CHARS + 4 * (n + 1)) / 2**20  # an Arrow string array: bytes and offsets
    config = SelectionConfig.model_validate(
        {"n_samples": k, "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}]}
    )
    run_config = RunConfig(selection_config=config)

    def stage(name: str, watch: RssPeak, began: float) -> None:
        seconds = round(time.perf_counter() - began, 3)
        stages[name] = {"s": seconds, "peak_rss_mb": round(watch.peak / 2**20, 1)}
        log(f"{name}: {stages[name]}")

    with (
        RssPeak() as total,
        tempfile.TemporaryDirectory() as folder_path,
        tempfile.TemporaryDirectory() as empty_input,
    ):
        listing = listing_of(n)
        plan = plan_datapool(
            listing,
            Dataset(Location(folder_path, writable=True), "bench"),
            DatasetState(name="bench"),
            {},
            use_datapool=False,
            process_all=False,
        )
        listing = map_listing(listing, plan)  # as run.py does once planned
        with RssPeak() as watch:
            began = time.perf_counter()
            gathered = gather_batches(blocks(n, seed), remove_exact_duplicates=True, expected_rows=n)
        stage("gather", watch, began)
        with RssPeak() as watch:
            began = time.perf_counter()
            release_free_memory()  # as run_steps.pool_and_inputs does
            restrict_candidates(gathered, plan)  # as run_steps.pool_and_inputs does
            pool = selection_pool(gathered, None)
            # as run_steps.pool_and_inputs does, from a lightly location without .lightly/ files
            inputs = read_lightly_inputs(
                Location(empty_input, writable=False), run_config, pool.names, pool.videos
            )
        stage("pool", watch, began)
        with RssPeak() as watch:
            began = time.perf_counter()
            data = SelectionData(
                names=pool.names,
                embeddings=pool.embeddings,
                predictions=inputs.predictions,
                metadata=inputs.metadata,
                lightly_metadata=pool.lightly_metadata,
                random_seed=seed,
                preselected=pool.preselected,
            )
            problem = build_problem(config, data)
            result = select(problem)
            release_free_memory()  # as run_steps.select_pool does
            explanation = explain_selection(config, problem, result)
            picked = explanation.table()
        stage("selection", watch, began)
        with RssPeak() as watch:
            began = time.perf_counter()
            samples = report_samples(pool, result.indices, seed, listing.column("name"))
            report_work = ReportInProgress(  # as run.py starts it, with the run's picture sources
                samples,
                data,
                [(entry.index, entry.part) for entry in explanation.strategies],
                {},
                picture_sources(listing, empty_input),
            )
        stage("report", watch, began)
        with RssPeak() as watch:
            began = time.perf_counter()
            run_folder = RunFolder(Location(folder_path, writable=True), "bench")
            selected = sorted(str(name) for name in picked.column("name").to_pylist())
            write_sample_lists(run_folder, gathered, selected)
            write_selection_table(run_folder, picked)
            index = ListingIndex(listing)
            rows = processed_here_rows(gathered, None)
            chosen = processed_rows(gathered, index, "bench", rows_named_in(gathered, selected))
            run_folder.write_parquet("samples.parquet", annotate(chosen, data))
            slices = processed_slices(gathered, index, "bench", rows, PARQUET_ROW_GROUP)
            run_folder.write_parquet_parts("processed.parquet", slices)
            report_work.result()
        stage("write", watch, began)
    peak = max(total.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {
        "n": n,
        "k": k,
        "dim": DIM,
        "candidates": len(pool.names),
        "selected": len(selected),
        "matrix_mb": round(matrix_mb, 1),
        "names_mb": round(names_mb, 1),
        "start_rss_mb": round(start_rss / 2**20, 1),
        "peak_rss_mb": round(peak / 2**20, 1),
        "ratio": round(peak / 2**20 / (matrix_mb + names_mb), 3),
        "stages": stages,
        "us_per_row": {name: round(value["s"] / n * 1e6, 3) for name, value in stages.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=2_000_000, help="samples (default 2,000,000)")
    parser.add_argument("--k", type=int, default=10_000, help="DIVERSITY picks (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    log(f"driver bench: n={args.n} k={args.k}")
    print(json.dumps(run(args.n, args.k, args.seed)))


if __name__ == "__main__":
    main()
