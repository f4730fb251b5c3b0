"""Where a run's embeddings come from: the model pipeline on Ray, or a precomputed embeddings CSV."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import ray

from lightly_ray.config import RunConfig
from lightly_ray.crash_points import crash_point
from lightly_ray.datasets.embedding_cache import CacheTarget, wait_for_cache
from lightly_ray.datasets.rows import as_batch
from lightly_ray.errors import StorageError, raise_if_interrupted
from lightly_ray.formats.embeddings_csv import read_embeddings_csv
from lightly_ray.formats.pretag_schema import BUILT_IN_WEIGHTS, PRETAG_CLASSES, PRETAG_COUNT
from lightly_ray.models.weights import DetectorWeights, ModelWeights, detector_weights, embedding_weights
from lightly_ray.pipeline.build import build_image_pipeline, counted_unit, unit_samples
from lightly_ray.pipeline.crops import PARENT, CropSource
from lightly_ray.pipeline.gather import GatheredSamples, gather_batches
from lightly_ray.pipeline.in_driver import embed_in_driver, embeds_in_driver
from lightly_ray.pipeline.pretag import PretagOutput
from lightly_ray.pipeline.sizing import ClusterShape
from lightly_ray.pipeline.spilled_columns import drop_mapped_pages
from lightly_ray.pipeline.units import IndexedVideos, build_units, sample_names
from lightly_ray.progress import logger, progress_bar
from lightly_ray.report.summary_lines import count
from lightly_ray.storage import Location, relative_inside
from lightly_ray.training.in_run import RunTraining
from lightly_ray.video.names import frame_names

MISSING_NAMES_IN_REPORT = 50


@dataclass
class EmbeddedSamples:
    """The gathered samples and a description of where their embeddings came from."""

    gathered: GatheredSamples
    source: dict[str, Any] = field(default_factory=dict)


def embed_with_model(
    config: RunConfig,
    input_location: Location,
    weights: ModelWeights,
    listing: pa.Table,
    videos: IndexedVideos,
    show_progress: bool,
    reused: pa.Table | None = None,
    cache: CacheTarget | None = None,
    rerun: bool = False,
    detector: DetectorWeights | None = None,
    pretag_output: PretagOutput | None = None,
    crops: CropSource | None = None,
    training: RunTraining | None = None,
) -> EmbeddedSamples:
    """Decode and embed every listed image and every frame of the indexed videos on Ray.

    `weights` are the model's, in the object store (`model_weights`, built while the input was
    listed). `reused` holds samples an earlier run processed with the same settings (the
    datapool's processed rows, or the cache of a run that died): they join the gathered samples
    as they are. The embedding actors keep what they embed in `cache`
    (`datasets.embedding_cache`). A datapool `rerun` with few samples to embed runs in this
    process (`pipeline.in_driver`). With the `detector`'s weights (pretagging), detector actors
    run between decode and embed, writing their predictions to `pretag_output`. With `crops`
    (object level), the decode tasks cut each box into a crop sample, embedded as the images
    are. With `training` (`enable_training`), the decoded samples train the model first
    (`training.in_run`) and are embedded with its weights.
    """
    source = {
        "source": "model",
        "model": config.lightly_config.model.name,
        "weights": config.worker_config.checkpoint or config.lightly_config.model.weights,
        "dim": config.lightly_config.model.out_dim,
        "inputSize": config.lightly_config.collate.input_size,
        "normalized": config.worker_config.normalize_embeddings,
        "reused": reused.num_rows if reused is not None else 0,
    }
    earlier = [as_batch(reused)] if reused is not None and reused.num_rows else []
    duplicates = config.worker_config.remove_exact_duplicates
    if listing.num_rows == 0:
        if earlier:
            return EmbeddedSamples(
                gathered=gather_batches(earlier, remove_exact_duplicates=duplicates), source=source
            )
        return EmbeddedSamples(
            gathered=GatheredSamples.empty(config.lightly_config.model.out_dim), source=source
        )
    cluster = ClusterShape.current()
    units = build_units(listing, videos)
    drop_mapped_pages()  # the mapped listing's pages the units were made from (run_steps.map_listing)
    total = int(unit_samples(units).sum())
    plan: dict[str, Any] = {
        "input_location": input_location,
        "config": config,
        "model_weights": weights,
        "cluster": cluster,
        "cache": cache,
    }
    if training is not None:
        source["weights"] = f"trained in this run from {source['weights']}"
    if crops is None and training is None and embeds_in_driver(config, cluster, total, rerun=rerun):
        logger.info(
            "embedding %s in this process (at most resources.embed.driver_max_samples=%d): "
            "no pipeline actors start",
            count(total, "sample"),
            config.resources.embed.driver_max_samples,
        )
        batches: Any = embed_in_driver(units, **plan)
    else:
        pipeline = build_image_pipeline(
            units,
            **plan,
            detector_weights=detector,
            pretag_output=pretag_output,
            crops=crops,
            train=(lambda rows: training.train(rows, ray.get(weights))) if training is not None else None,
        )
        logger.info("pipeline on %s:\n%s", cluster.describe(), pipeline.describe())
        # Blocks as the embedding actors finish them: no extra re-batching or projection step,
        # which would be tasks of their own waiting for a CPU behind the decode tasks.
        batches = pipeline.dataset.iter_batches(batch_size=None, batch_format="numpy")
    # After training the rows are decoded already (the "decode" bar before it): embedding is left.
    bar = progress_bar(
        total, "decode+embed" if training is None else "embed", show_progress, counted_unit(units)
    )

    def counted() -> Any:
        for batch in batches:
            parents = batch.get(PARENT)  # crops ride with their images: the bar counts images
            bar.update(int((parents == "").sum()) if parents is not None else len(batch["name"]))
            yield batch
            crash_point("embedding")
            raise_if_interrupted()

    try:
        gathered = gather_batches(
            itertools.chain(earlier, counted()),
            remove_exact_duplicates=duplicates,
            expected_rows=total + (reused.num_rows if reused is not None else 0),
        )
    finally:
        bar.close()
    if cache is not None:
        wait_for_cache(cache, total)
    if detector is not None:
        _warn_when_nothing_was_detected(config, gathered)
    return EmbeddedSamples(gathered=gathered, source=source)


def _warn_when_nothing_was_detected(config: RunConfig, gathered: GatheredSamples) -> None:
    """Say so when pretagging found no object at all: selection on its classes has nothing to go on."""
    counts = gathered.detections.get(PRETAG_COUNT)
    detected = counts[counts >= 0] if counts is not None else np.zeros(0)
    if not len(detected) or detected.sum() > 0:
        return
    settings = config.lightly_config.pretagging
    hint = (
        ": random weights detect nothing; set lightly_config.pretagging.weights to coco or a checkpoint"
        if settings.weights == "random"
        else ""
    )
    logger.warning(
        "pretagging found no %s scoring at least %g (lightly_config.pretagging.score_threshold) in the "
        "%d images and frames it ran on%s",
        ", ".join(PRETAG_CLASSES),
        settings.score_threshold,
        len(detected),
        hint,
    )


def embed_from_csv(
    config: RunConfig, lightly_location: Location, listing: pa.Table, videos: IndexedVideos
) -> EmbeddedSamples:
    """Use the embeddings CSV of `worker_config.embeddings` instead of running the model.

    Input files without a row are left out of the run; rows naming no input file are ignored.
    Both are counted (and the first names listed) in the report. Files are not read, so there
    is no corruptness check and no exact-duplicate removal on this path.
    """
    path = relative_inside(str(config.worker_config.embeddings), lightly_location, "worker_config.embeddings")
    logger.info("reading precomputed embeddings from %s", path)
    table = read_embeddings_csv(lightly_location, path)
    listed = sample_names(listing, videos)
    row_of = {name: row for row, name in enumerate(table.filenames)}
    matched = sorted(name for name in listed if name in row_of)
    if not matched:
        raise StorageError(
            f"worker_config.embeddings '{path}': none of its {len(table.filenames)} file names is an "
            f"input file (e.g. '{table.filenames[0] if table.filenames else ''}')"
        )
    vectors = table.embeddings[[row_of[name] for name in matched]].astype(np.float32)
    if config.worker_config.normalize_embeddings:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
    gathered = GatheredSamples.of_matrix(np.asarray(matched, dtype=object), vectors)
    if videos.indexes:  # the frames' videos: their metadata, sequences and written frames
        gathered.frames.update(_frame_columns(matched, videos))
    listed_set = set(listed)
    without_row = sorted(name for name in listed if name not in row_of)
    not_in_input = sorted(name for name in table.filenames if name not in listed_set)
    source = {
        "source": "csv",
        "file": path,
        "rows": len(table.filenames),
        "dim": table.dimension,
        "normalized": config.worker_config.normalize_embeddings,
        "inputWithoutEmbedding": len(without_row),
        "inputWithoutEmbeddingExamples": without_row[:MISSING_NAMES_IN_REPORT],
        "rowsNotInInput": len(not_in_input),
        "rowsNotInInputExamples": not_in_input[:MISSING_NAMES_IN_REPORT],
    }
    if without_row or not_in_input:
        logger.warning(
            "embeddings CSV: %d input files have no row (left out), %d rows name no input file",
            len(without_row),
            len(not_in_input),
        )
    return EmbeddedSamples(gathered=gathered, source=source)


def _frame_columns(names: list[str], videos: IndexedVideos) -> dict[str, np.ndarray]:
    """The frame columns (`gather.FRAME_COLUMNS`) of sorted sample names, as decoding makes them."""
    position = {name: row for row, name in enumerate(names)}
    video = np.full(len(names), "", dtype=object)
    index, pts = np.full(len(names), -1, dtype=np.int64), np.zeros(len(names), dtype=np.int64)
    seconds, count = np.zeros(len(names), dtype=np.float64), np.zeros(len(names), dtype=np.int64)
    for name, video_index in videos.indexes.items():
        frame_seconds = video_index.seconds()
        for frame, frame_name in enumerate(frame_names(name, video_index.frame_count)):
            row = position.get(frame_name)
            if row is not None:
                video[row], index[row], count[row] = name, frame, video_index.frame_count
                pts[row], seconds[row] = video_index.pts[frame], frame_seconds[frame]
    return {
        "video": video,
        "frame_index": index,
        "frame_pts": pts,
        "frame_seconds": seconds,
        "video_frames": count,
    }


def model_weights(config: RunConfig, lightly_location: Location, *, in_driver: bool = False) -> ModelWeights:
    """Build the embedding model's weights once (checkpoint, ImageNet or random), on the driver's node.

    Returns their reference in the object store, where the actors read them.

    `in_driver`: in the driver process itself (`models.weights.embedding_weights`'s `here`).
    """
    model = config.lightly_config.model
    data, source = None, ""
    if config.worker_config.checkpoint is not None:
        relative = relative_inside(
            config.worker_config.checkpoint, lightly_location, "worker_config.checkpoint"
        )
        logger.info("loading checkpoint %s", relative)
        try:
            data = lightly_location.read_bytes(relative)
        except FileNotFoundError as error:
            raise StorageError(f"worker_config.checkpoint: {error}") from None
        source = f"'{relative}' in '{lightly_location.url}'"
        weights = f"checkpoint {relative}"
    else:
        weights = f"{model.weights} weights"
    logger.info("embedding model: %s, %s, out_dim %d", model.name, weights, model.out_dim)
    here = True if in_driver else None  # None: in a task unless this process has torch already
    return embedding_weights(model, config.lightly_config.seed, data, source, here=here)


def detector_weights_of(config: RunConfig, lightly_location: Location) -> DetectorWeights:
    """Build the pretagging detector's weights once (COCO, random or a checkpoint), on the driver's node.

    Returns their reference in the object store, where the detector actors read them.
    """
    settings = config.lightly_config.pretagging
    checkpoint = None
    if settings.weights not in BUILT_IN_WEIGHTS:
        relative = relative_inside(settings.weights, lightly_location, "lightly_config.pretagging.weights")
        try:
            checkpoint = lightly_location.read_bytes(relative)
        except FileNotFoundError as error:
            raise StorageError(f"lightly_config.pretagging.weights: {error}") from None
    logger.info(
        "pretagging: Faster R-CNN ResNet-50 FPN, %s weights, scores >= %g, images of %d px",
        settings.weights,
        settings.score_threshold,
        settings.image_size,
    )
    return detector_weights(settings, config.lightly_config.seed, checkpoint)
