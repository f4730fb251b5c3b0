"""A run's side of its dataset: publishing what it selected and processed, its cache, query sets."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from lightly_ray.datasets import DatapoolPlan, DatasetState, RunRecord
from lightly_ray.datasets.annotations import annotate
from lightly_ray.datasets.current_rows import current_samples
from lightly_ray.datasets.embedding_cache import CacheTarget, clear_cache
from lightly_ray.datasets.rows import (
    ListingIndex,
    embedding_matrix,
    files_table,
    processed_here_rows,
    processed_rows,
    processed_slices,
    rows_named,
    rows_named_in,
)
from lightly_ray.datasets.settings import embedding_settings
from lightly_ray.outputs.run_folder import PARQUET_ROW_GROUP
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.preflight import PreparedRun
from lightly_ray.progress import logger
from lightly_ray.report.summary_lines import count
from lightly_ray.selection.data import SelectionData


def publish_run(
    prepared: PreparedRun,
    previous: DatasetState,
    run_id: str,
    tag: str,
    gathered: GatheredSamples,
    plan: DatapoolPlan,
    listing: pa.Table,
    selected: list[str],
    finished: dt.datetime,
    data: SelectionData | None = None,
    sequences: dict[str, str] | None = None,
) -> bool:
    """Publish the run to its dataset, last of all its outputs; False when it added no tag.

    Args:
        prepared: The checked run.
        previous: The dataset's state the run built on (read once it held the lock).
        run_id: The run.
        tag: Its tag.
        gathered: Every sample it has (processed here or reused).
        plan: What it processed and reused.
        listing: Its listing.
        selected: The names it selected.
        finished: When it finished.
        data: What selection read (custom metadata, predictions), kept with the samples.
        sequences: By selected frame, its sequence (`selected_sequence_length` runs).


    A run that selected nothing but processed files still publishes what it processed (no tag),
    so that the datapool does not process those files again.
    """
    rows = processed_here_rows(gathered, plan.reused)
    name = prepared.dataset.dataset.name
    if not selected and not len(rows):
        logger.info("nothing was processed or selected: dataset '%s' is unchanged", name)
        return False
    record = RunRecord(
        run_id=run_id,
        tag=tag if selected else "",
        finished=finished.isoformat(),
        input=prepared.input_location.url,
        selected=len(selected),
        processed=len(rows),
        embedding=embedding_settings(prepared.config),
    )
    index = ListingIndex(listing)
    chosen = processed_rows(gathered, index, run_id, rows_named_in(gathered, selected))
    dataset = prepared.dataset.dataset
    state = dataset.publish(
        previous,
        record,
        selected=annotate(chosen, data, sequences),
        processed=processed_slices(gathered, index, run_id, rows, PARQUET_ROW_GROUP),
        files=files_table(plan.to_process),
    )
    if not selected:
        logger.info("nothing new was selected: dataset '%s' records the processed files, no tag", name)
        return False
    logger.info(
        "dataset '%s': %s added as tag '%s' (%d in initial-tag)",
        name,
        count(len(selected), "sample"),
        tag,
        state.sample_count,
    )
    return True


def concat_tables(*tables: pa.Table | None) -> pa.Table | None:
    """The tables that exist and have rows, as one (None when there are none)."""
    present = [table for table in tables if table is not None and table.num_rows]
    return pa.concat_tables(present, promote_options="default") if present else None


def clear_cache_best_effort(cache: CacheTarget) -> None:
    """Empty the embedding cache once the run's rows are published (or not needed)."""
    try:
        clear_cache(cache.location, cache.folder)
    except Exception as error:  # noqa: BLE001 - a leftover cache costs space, never a result
        logger.warning("could not empty the embedding cache %s: %s", cache.folder, error)


def query_embeddings(prepared: PreparedRun) -> dict[tuple[str, str], np.ndarray]:
    """The embeddings of each query set's tag (SIMILARITY with dataset_id and tag_name)."""
    queries = {}
    for (name, tag), (dataset, state) in prepared.dataset.queries.items():
        samples = current_samples(dataset, state)
        members = dataset.read_tag(state, tag)
        rows = rows_named(samples, members) if samples is not None else None
        queries[(name, tag)] = embedding_matrix(rows) if rows is not None else np.zeros((0, 0), np.float32)
        logger.info("query set: %d samples of tag '%s' of dataset '%s'", len(queries[(name, tag)]), tag, name)
    return queries


__all__ = ["clear_cache_best_effort", "concat_tables", "publish_run", "query_embeddings"]
