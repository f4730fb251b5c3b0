"""Wire the stages into one Ray Data plan and describe it.

The plan streams: CPU tasks read and decode files, an actor pool embeds them, and the driver
consumes rows (name, flags, hash, embedding; never the pixels) as they are finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import ray.data

from lightly_ray.config.run_config import PRETAGGING_TASK, RunConfig
from lightly_ray.datasets.embedding_cache import CacheTarget
from lightly_ray.formats.pretag_schema import PRETAG_COLUMNS
from lightly_ray.models.weights import DetectorWeights, ModelState, ModelWeights
from lightly_ray.pipeline.crops import CROP_COLUMNS, CropSource
from lightly_ray.pipeline.decode_units import SAMPLE_COLUMNS, decode_units
from lightly_ray.pipeline.detector_input import DETECT_COLUMNS
from lightly_ray.pipeline.embed import EmbedImages
from lightly_ray.pipeline.materialize import materialize_counting
from lightly_ray.pipeline.pretag import PretagImages, PretagOutput
from lightly_ray.pipeline.sizing import (
    ActorShape,
    ClusterShape,
    block_samples,
    check_room_for_decoding,
    custom_options,
    decode_cpus,
    decode_task_count,
    embed_shape,
    pretag_shape,
)
from lightly_ray.pipeline.stage import Stage, describe_stages, torch_threads_note
from lightly_ray.progress import progress_bar
from lightly_ray.storage import Location


@dataclass
class ImagePipeline:
    """A Ray Data plan from decode units to embedded rows.

    Attributes:
        dataset: The lazy Ray dataset; iterate it to run the plan.
        samples: How many sample rows it makes (images and video frames).
        stages: The steps that built it, for `describe()`.

    """

    dataset: ray.data.Dataset
    samples: int
    stages: list[Stage] = field(default_factory=list)

    def describe(self) -> str:
        """One line per step: name, how it runs, resources, columns needed and made."""
        return describe_stages(self.stages)


def build_image_pipeline(
    units: pa.Table,
    *,
    input_location: Location,
    config: RunConfig,
    model_weights: ModelWeights,
    cluster: ClusterShape,
    cache: CacheTarget | None = None,
    detector_weights: DetectorWeights | None = None,
    pretag_output: PretagOutput | None = None,
    crops: CropSource | None = None,
    train: Callable[[ray.data.Dataset], ModelState] | None = None,
) -> ImagePipeline:
    """Build the decode, pretag and embed plan for the decode units of a listing.

    With `train` (`worker_config.enable_training`) the steps before embedding run here: their
    rows are materialized in the object store, `train` trains the embedding model on them and
    returns its weights, and the embedding step runs over the same rows with those weights.

    Args:
        units: One row per image file and per video segment (`units.build_units`).
        input_location: Where the files are read from.
        config: The run configuration.
        model_weights: The embedding model's weights in the object store (`models.weights`).
        cluster: The resources to plan for.
        cache: Where the embedding actors keep what they embed (None: nowhere).
        detector_weights: With pretagging, the detector's weights in the object store.
        pretag_output: With pretagging, where the detector actors write their predictions.
        crops: With object level, the boxes the decode tasks cut into crop samples.
        train: Trains the embedding model on the decoded rows and returns its weights.

    Returns:
        The plan; nothing after the training runs until its dataset is iterated.

    """
    samples = unit_samples(units)
    per_block = block_samples(config, cluster, int(samples.sum()))
    blocks = unit_blocks(units, samples, per_block)
    stages = plan_stages(
        config,
        cluster,
        location=input_location,
        state_ref=model_weights,
        blocks=len(blocks),
        cache=cache,
        detector_ref=detector_weights,
        pretag_output=pretag_output,
        crops=crops,
    )
    # from_blocks keeps the blocks as cut and reads their sizes here; from_arrow would ask a
    # remote task per block for them, 0.5 to 1.9 s before the first decode task on 2 CPUs.
    dataset: ray.data.Dataset = ray.data.from_blocks(blocks)
    for stage in stages[:-1]:
        dataset = stage.apply(dataset)
    if train is not None:
        # Crops come beside their images, more rows than the units make: a count without a total.
        counted = progress_bar(
            0 if crops is not None else int(samples.sum()), "decode", unit=counted_unit(units, crops)
        )
        try:
            dataset = materialize_counting(dataset, counted.update)
        finally:
            counted.close()
        embed = stages[-1]
        constructor = {**embed.options["fn_constructor_kwargs"], "state_ref": [ray.put(train(dataset))]}
        stages[-1] = replace(embed, options={**embed.options, "fn_constructor_kwargs": constructor})
    dataset = stages[-1].apply(dataset)
    return ImagePipeline(dataset=dataset, samples=int(samples.sum()), stages=stages)


def plan_stages(
    config: RunConfig,
    cluster: ClusterShape,
    *,
    location: Location | None = None,
    state_ref: Any = None,
    blocks: int | None = None,
    cache: CacheTarget | None = None,
    detector_ref: Any = None,
    pretag_output: PretagOutput | None = None,
    crops: CropSource | None = None,
) -> list[Stage]:
    """The decode, pretag (with `worker_config.pretagging`) and embed steps; nothing is started.

    Every resource comes from `config.resources` (defaults: fill the cluster).

    Args:
        config: The run configuration.
        cluster: The resources to plan for.
        location: The input location (None for a plan that is only described, `--dry-run`).
        state_ref: The model weights in the object store (None for a plan only described).
        blocks: How many blocks of units the decode step gets, when known: no more decode tasks
            run at once than there are blocks.
        cache: Where the embedding actors keep what they embed (None: nowhere).
        detector_ref: The detector's weights in the object store (pretagging).
        pretag_output: Where the detector actors write (None for a plan only described).
        crops: With object level, the boxes the decode tasks cut (None for a plan only described).

    Returns:
        The steps in order; `Stage.apply` builds them, `describe_stages` shows them.

    """
    lightly = config.lightly_config
    shape = embed_shape(config, cluster)
    pretagging = config.worker_config.pretagging
    detector = pretag_shape(config, cluster) if pretagging else None
    actors = [shape] if detector is None else [detector, shape]
    crop_task = config.crop_task()
    decoding = {
        "location": location,
        "input_size": lightly.collate.input_size,
        "detect_size": lightly.pretagging.image_size if pretagging else None,
        "crops": crops,
    }
    decoded = (
        *(column for column in SAMPLE_COLUMNS if not column.startswith("lightly_")),
        "lightly_*",
        *(DETECT_COLUMNS if pretagging else ()),
        *(CROP_COLUMNS if crop_task not in (None, PRETAGGING_TASK) else ()),
    )
    in_detectors = detector is not None and decodes_in_detectors(config, detector)
    stages = []
    if not in_detectors:
        decode_share = decode_cpus(config, cluster, actors)
        if detector is not None:
            check_room_for_decoding(cluster, actors, decode_share)
        stages.append(
            Stage(
                name="decode",
                fn=decode_units,
                options={
                    "fn_kwargs": decoding,
                    "batch_size": None,  # one block, cut to about `block_samples` samples, per task
                    "num_cpus": decode_share,
                    "compute": ray.data.TaskPoolStrategy(
                        size=min(decode_task_count(config, cluster), blocks or 1 << 30)
                    ),
                    "udf_modifying_row_count": True,
                    "max_retries": config.resources.retries.tasks,
                },
                needs=("source", "video segment"),
                makes=decoded,
            )
        )
    if detector is not None:
        stages.append(
            detector_stage(
                config,
                detector,
                blocks=blocks,
                detector_ref=detector_ref,
                pretag_output=pretag_output,
                decoding=decoding if in_detectors else None,
                decoded=decoded,
            )
        )
    embed = Stage(
        name="embed",
        fn=EmbedImages,
        options={
            "fn_constructor_kwargs": {
                "model": lightly.model,
                "state_ref": [state_ref],
                "normalize": config.worker_config.normalize_embeddings,
                "torch_threads": shape.torch_threads,
                "cache": cache,
            },
            "compute": ray.data.ActorPoolStrategy(min_size=shape.min_actors, max_size=shape.max_actors),
            "batch_size": shape.batch_size,
            "udf_modifying_row_count": False,
            "num_cpus": shape.cpus,
            "num_gpus": shape.gpus,
            **restart_options(config),
            **custom_options(config.resources.embed.custom_resources),
        },
        needs=("image", "ok"),
        makes=("embedding",),
        label=f"{lightly.model.name} actors",
        note="" if shape.gpus else torch_threads_note(shape.torch_threads),
    )
    return [*stages, embed]


def detector_stage(
    config: RunConfig,
    detector: ActorShape,
    *,
    blocks: int | None,
    detector_ref: Any,
    pretag_output: PretagOutput | None,
    decoding: dict[str, Any] | None,
    decoded: tuple[str, ...],
) -> Stage:
    """The detector's step: `pretag` on decoded rows, or `decode+pretag` with `decoding`.

    Args:
        config: The run configuration.
        detector: The detector actors' shape (`pretag_shape`).
        blocks: How many blocks of units the plan has, when known.
        detector_ref: The detector's weights in the object store.
        pretag_output: Where the actors write their predictions.
        decoding: `decode_units`' keyword arguments when the actors decode their own blocks
            (`decodes_in_detectors`), else None.
        decoded: The columns decoding makes.
    """
    lightly = config.lightly_config
    crops_of_detector = config.crop_task() == PRETAGGING_TASK
    padding = config.worker_config.object_level.padding
    in_detectors = decoding is not None
    return Stage(
        name="decode+pretag" if in_detectors else "pretag",
        fn=PretagImages,
        options={
            "fn_constructor_kwargs": {
                "settings": lightly.pretagging,
                "state_ref": [detector_ref],
                "torch_threads": detector.torch_threads,
                "output": pretag_output,
                "crops": (padding, lightly.collate.input_size) if crops_of_detector else None,
                "decode": decoding,
            },
            "compute": detector_pool(detector, blocks),
            # Decoding too, an actor takes a block of units at a time, as a decode task would.
            "batch_size": None if in_detectors else detector.batch_size,
            "udf_modifying_row_count": crops_of_detector or in_detectors,
            "num_cpus": detector.cpus,
            "num_gpus": detector.gpus,
            **restart_options(config),
            **custom_options(config.resources.pretag.custom_resources),
        },
        needs=("source", "video segment") if in_detectors else DETECT_COLUMNS,
        makes=(
            *(column for column in decoded if in_detectors and column not in DETECT_COLUMNS),
            *PRETAG_COLUMNS,
            *(CROP_COLUMNS if crops_of_detector else ()),
        ),
        label="faster-rcnn actors",
        note="" if detector.gpus else torch_threads_note(detector.torch_threads),
    )


def decodes_in_detectors(config: RunConfig, detector: ActorShape) -> bool:
    """Whether the detector's actors decode their own blocks of units (no decode tasks).

    So they do on CPUs: a CPU detector takes about a CPU-second an image at 320 px and decoding
    it a few milliseconds, so decode tasks cost more in their processes (each imports the
    decoders: about 7 CPU-s of 155 in a 100-image run of `bench/objects.py` on 2 CPUs) than in
    their work. Decoding stays in tasks beside detectors on GPUs, beside detectors pinned to
    nodes by a custom resource (the other nodes decode), and when `resources.decode` sets the
    decode tasks' CPUs or number.
    """
    decode = config.resources.decode
    return (
        not detector.gpus
        and not config.resources.pretag.custom_resources
        and decode.cpus_per_task is None
        and decode.max_tasks is None
    )


def detector_pool(detector: ActorShape, blocks: int | None) -> ray.data.ActorPoolStrategy:
    """The detector's actor pool: no more actors than blocks, which are all they get to detect."""
    most = detector.max_actors if blocks is None else max(1, min(detector.max_actors, blocks))
    return ray.data.ActorPoolStrategy(min_size=min(detector.min_actors, most), max_size=most)


def restart_options(config: RunConfig) -> dict[str, int]:
    """A model actor's restarts and batch retries after its process or node died (`resources.retries`)."""
    actors = config.resources.retries.actors
    return {"max_restarts": actors, "max_task_retries": actors}


def counted_unit(units: pa.Table, crops: CropSource | None = None) -> str:
    """What a progress bar over the units' samples counts: "img", "frames" (videos only), "samples".

    "samples" also where the rows hold object crops beside their images (`crops` given).
    """
    in_videos = pc.sum(pc.greater(units.column("video_frames"), 0)).as_py() or 0
    if crops is not None:
        return "samples"
    if in_videos == 0:
        return "img"
    return "frames" if in_videos == units.num_rows else "samples"


def unit_samples(units: pa.Table) -> np.ndarray:
    """How many samples each unit makes: 1 for an image, its frames for a video segment."""
    frames = pc.list_value_length(units.column("pts")).to_numpy(zero_copy_only=False)
    return np.where(units.column("video_frames").to_numpy() > 0, frames, 1).astype(np.int64)


def unit_blocks(units: pa.Table, samples: np.ndarray, per_block: int) -> list[pa.Table]:
    """Consecutive units cut into blocks of about `per_block` samples (a segment stays whole)."""
    blocks: list[pa.Table] = []
    start, total = 0, 0
    for row, count in enumerate(samples.tolist()):
        if total and total + count > per_block:
            blocks.append(units.slice(start, row - start))
            start, total = row, 0
        total += count
    if units.num_rows > start or not blocks:
        blocks.append(units.slice(start, max(units.num_rows - start, 0)))
    return blocks
