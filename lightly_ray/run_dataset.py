"""A run's side of its dataset: publishing what it selected and processed, its cache, query sets."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightly_ray.datasets import DatapoolPlan, DatasetState, RunRecord
from lightly_ray.datasets.annotations import annotate
from lightly_ray.datasets.embedding_cache import CacheTarget, clear_cache
from lightly_ray.datasets.rows import embedding_matrix, files_table, processed_table, rows_named
from lightly_ray.datasets.settings import embedding_settings
from lightly_ray.pipeline.gather import GatheredSamples
from lightly_ray.preflight import PreparedRun
from lightly_ray.progress import logger
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
    processed = processed_table(gathered, listing, run_id)
    if plan.reused is not None:
        fresh = pc.invert(pc.is_in(processed.column("name"), value_set=plan.reused.column("name")))
        processed_here = processed.filter(fresh)
    else:
        processed_here = processed
    name = prepared.dataset.dataset.name
    if not selected and not processed_here.num_rows:
        logger.info("nothing was processed or selected: dataset '%s' is unchanged", name)
        return False
    record = RunRecord(
        run_id=run_id,
        tag=tag if selected else "",
        finished=finished.isoformat(),
        input=prepared.input_location.url,
        selected=len(selected),
        processed=processed_here.num_rows,
        embedding=embedding_settings(prepared.config),
    )
    dataset = prepared.dataset.dataset
    state = dataset.publish(
        previous,
        record,
        selected=annotate(rows_named(processed, selected), data, sequences),
        processed=processed_here,
        files=files_table(plan.to_process),
    )
    if not selected:
        logger.info("nothing new was selected: dataset '%s' records the processed files, no tag", name)
        return False
    logger.info(
        "dataset '%s': %d samples added as tag '%s' (%d in initial-tag)",
        name,
        len(selected),
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
        samples = dataset.read_table(state, "samples")
        members = dataset.read_tag(state, tag)
        rows = rows_named(samples, members) if samples is not None else None
        queries[(name, tag)] = embedding_matrix(rows) if rows is not None else np.zeros((0, 0), np.float32)
        logger.info("query set: %d samples of tag '%s' of dataset '%s'", len(queries[(name, tag)]), tag, name)
    return queries


__all__ = ["clear_cache_best_effort", "concat_tables", "publish_run", "query_embeddings"]
