"""A few samples decoded and embedded in the driver process: no Ray Data tasks or actors start.

A datapool rerun often finds a handful of new files. Starting the pipeline for them costs more
than the work: Ray Data starts its helper actors and an embedding actor, a fresh process that
imports torch and loads the model (about 3.5 s on 2 cores, docs/pipeline_performance.md),
while the driver already holds the model's weights (a rerun builds them in the driver, not in a
task: `models.weights`). So a rerun of a dataset with at most
`resources.embed.driver_max_samples` samples to embed (default 512; 0 turns it off) decodes them
in threads of the driver and embeds them with the same `EmbedImages` the actors run, in the
same batches, writing the same embedding cache. It applies only to datapool reruns on a cluster
without GPUs and without pretagging: a first run is large, a GPU cluster's driver usually has no
GPU, and the detector is the pipeline's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
from threadpoolctl import threadpool_limits

from lightly_ray.config import RunConfig
from lightly_ray.datasets.embedding_cache import CacheTarget
from lightly_ray.models.weights import ModelWeights
from lightly_ray.pipeline.batch import Batch
from lightly_ray.pipeline.build import unit_blocks, unit_samples
from lightly_ray.pipeline.decode_units import decode_units
from lightly_ray.pipeline.embed import EmbedImages
from lightly_ray.pipeline.sizing import ClusterShape, embed_shape
from lightly_ray.storage import Location


def embeds_in_driver(config: RunConfig, cluster: ClusterShape, samples: int, *, rerun: bool) -> bool:
    """Whether this run embeds its `samples` in the driver (see the module docstring)."""
    limit = config.resources.embed.driver_max_samples
    small = rerun and config.worker_config.use_datapool and cluster.gpus == 0 and 0 < samples <= limit
    return small and not config.worker_config.pretagging


def embed_in_driver(
    units: pa.Table,
    *,
    input_location: Location,
    config: RunConfig,
    model_weights: ModelWeights,
    cluster: ClusterShape,
    cache: CacheTarget | None,
) -> Iterator[Batch]:
    """Decode the units in threads and embed them here; yields embedded batches in order.

    Args:
        units: Decode units (`units.build_units`).
        input_location: Where the files are read from.
        config: The run configuration.
        model_weights: The model's weights in the object store (`models.weights`).
        cluster: The cluster's shape (for the embedding batch size).
        cache: Where embedded batches are kept for a rerun (as the actors do).
    """
    threads = max(1, os.cpu_count() or 1)
    samples = unit_samples(units)
    per_block = max(1, -(-int(samples.sum()) // (2 * threads)))
    blocks = unit_blocks(units, samples, per_block)
    shape = embed_shape(config, cluster)
    embedder = EmbedImages(
        config.lightly_config.model,
        [model_weights],
        config.worker_config.normalize_embeddings,
        torch_threads=threads,
        cache=cache,
    )
    size = config.lightly_config.collate.input_size
    try:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lightly-ray-decode") as pool:
            # Every block is decoded before the model runs: decode threads beside torch's own
            # threads oversubscribe the cores, and torch's threads then wait on each other. The
            # Lightly metadata's BLAS products run on one thread each, as in a Ray worker (Ray
            # sets OMP_NUM_THREADS=1 there): a multi-threaded BLAS per decode thread made the
            # decode 3x slower on 2 cores.
            with threadpool_limits(limits=1, user_api="blas"):
                decoded = list(
                    pool.map(
                        lambda block: decode_units(_numpy(block), location=input_location, input_size=size),
                        blocks,
                    )
                )
            for batch in decoded:
                count = len(batch["name"])
                for start in range(0, count, shape.batch_size):
                    yield embedder(
                        {column: values[start : start + shape.batch_size] for column, values in batch.items()}
                    )
    finally:
        if embedder.cache is not None:
            embedder.cache.close()


def _numpy(block: pa.Table) -> dict[str, Any]:
    """A block of units as the numpy batch Ray Data hands a task (list columns as object arrays)."""
    return {
        name: np.asarray(block.column(name).to_numpy(zero_copy_only=False)) for name in block.column_names
    }


__all__ = ["embed_in_driver", "embeds_in_driver"]
