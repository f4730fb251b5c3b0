"""Wire the stages into one Ray Data plan and describe it.

The plan streams: CPU tasks read and decode files, an actor pool embeds them, and the driver
consumes rows (name, flags, hash, embedding; never the pixels) as they are finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import ray.data

from lightly_ray.config.run_config import RunConfig
from lightly_ray.models.backbones import ModelState
from lightly_ray.pipeline.decode_units import SAMPLE_COLUMNS, decode_units
from lightly_ray.pipeline.embed import EmbedImages
from lightly_ray.storage import Location

MAX_SAMPLES_PER_DECODE_BLOCK = 64


@dataclass(frozen=True)
class Stage:
    """One step of the plan, as `describe()` shows it."""

    name: str
    runs_as: str
    resources: str
    needs: tuple[str, ...]
    makes: tuple[str, ...]


@dataclass
class ImagePipeline:
    """A Ray Data plan from a listing to embedded rows.

    Attributes:
        dataset: The lazy Ray dataset; iterate it to run the plan.
        stages: What each step does, for `describe()`.

    """

    dataset: ray.data.Dataset
    stages: list[Stage] = field(default_factory=list)

    def describe(self) -> str:
        """One line per stage: name, how it runs, resources, columns needed and made."""
        lines = []
        for index, stage in enumerate(self.stages, start=1):
            lines.append(
                f"{index}. {stage.name:<8} {stage.runs_as:<34} {stage.resources:<22} "
                f"needs [{', '.join(stage.needs)}] -> makes [{', '.join(stage.makes)}]"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class ClusterShape:
    """The resources the plan may use."""

    cpus: int
    gpus: int

    @classmethod
    def current(cls) -> ClusterShape:
        """Read the connected Ray cluster's total CPUs and GPUs."""
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        return cls(cpus=max(1, int(resources.get("CPU", 1))), gpus=int(resources.get("GPU", 0)))


def build_image_pipeline(
    units: pa.Table,
    *,
    input_location: Location,
    config: RunConfig,
    model_state: ModelState,
    cluster: ClusterShape,
) -> ImagePipeline:
    """Build the decode and embed plan for the decode units of a listing (images, video segments).

    Args:
        units: One row per image file and per video segment (`units.build_units`).
        input_location: Where the files are read from.
        config: The run configuration.
        model_state: Embedding model weights (built on the driver, shared via the object store).
        cluster: The resources to plan for.

    Returns:
        The plan; nothing runs until its dataset is iterated.

    """
    lightly = config.lightly_config
    input_size = lightly.collate.input_size
    decode_tasks = cluster.cpus if lightly.loader.num_workers < 1 else lightly.loader.num_workers
    if cluster.gpus > 0:
        actors, actor_cpus, actor_gpus, resources = cluster.gpus, 1.0, 1.0, "1 GPU per actor"
    else:
        actors, actor_cpus, actor_gpus = max(1, cluster.cpus - 1), 1.0, 0.0
        resources = "1 CPU per actor"
    # Small blocks for small inputs, so that every decode task has work (4 blocks per task).
    samples = unit_samples(units)
    per_block = max(1, min(MAX_SAMPLES_PER_DECODE_BLOCK, -(-int(samples.sum()) // (4 * decode_tasks))))
    state_ref = ray.put(model_state)
    listed = ray.data.from_arrow(unit_blocks(units, samples, per_block))
    decoded = listed.map_batches(
        decode_units,  # type: ignore[arg-type]  # keyword-only options come from fn_kwargs
        fn_kwargs={"location": input_location, "input_size": input_size},
        batch_size=None,  # one block, cut to about `per_block` samples, per task
        num_cpus=1,
        compute=ray.data.TaskPoolStrategy(size=decode_tasks),
        udf_modifying_row_count=True,
    )
    embedded = decoded.map_batches(
        EmbedImages,
        fn_constructor_kwargs={
            "model": lightly.model,
            "state_ref": [state_ref],
            "normalize": config.worker_config.normalize_embeddings,
        },
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
        batch_size=lightly.loader.batch_size,
        udf_modifying_row_count=False,
        num_cpus=actor_cpus,
        num_gpus=actor_gpus,
    )
    stages = [
        Stage("list", "driver", "-", (), ("source", "size", "video segment")),
        Stage(
            "decode",
            f"tasks, up to {decode_tasks} at once",
            "1 CPU per task",
            ("source", "video segment"),
            tuple(column for column in SAMPLE_COLUMNS if not column.startswith("lightly_")),
        ),
        Stage(
            "embed",
            f"{lightly.model.name} actors, 1 to {actors}",
            resources,
            ("image", "ok"),
            ("embedding",),
        ),
    ]
    return ImagePipeline(dataset=embedded, stages=stages)


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
