"""Wire the stages into one Ray Data plan and describe it.

The plan streams: CPU tasks read and decode files, an actor pool embeds them, and the driver
consumes rows (name, flags, hash, embedding; never the pixels) as they are finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import ray.data

from lightly_ray.config.run_config import RunConfig
from lightly_ray.models.backbones import ModelState
from lightly_ray.pipeline.decode_units import SAMPLE_COLUMNS, decode_units
from lightly_ray.pipeline.embed import EmbedImages
from lightly_ray.pipeline.units import UNIT_SCHEMA
from lightly_ray.storage import Location

MAX_SAMPLES_PER_DECODE_BLOCK = 64


@dataclass(frozen=True)
class Stage:
    """One `map_batches` step of the plan: what builds it is also what `describe()` shows.

    Attributes:
        name: Short name, e.g. "decode".
        fn: The function or class Ray Data maps over batches.
        options: The keyword arguments of `map_batches` (compute, resources, batch size, ...).
        needs: Columns it reads.
        makes: Columns it adds.
        label: What runs it, e.g. "resnet-18 actors".

    """

    name: str
    fn: Any
    options: dict[str, Any]
    needs: tuple[str, ...]
    makes: tuple[str, ...]
    label: str = "tasks"

    def apply(self, dataset: ray.data.Dataset) -> ray.data.Dataset:
        """The dataset with this step mapped over it."""
        return dataset.map_batches(self.fn, **self.options)

    def runs_as(self) -> str:
        """How many tasks or actors, read from the compute strategy."""
        compute = self.options.get("compute")
        if isinstance(compute, ray.data.ActorPoolStrategy):
            return f"{self.label}, {compute.min_size} to {compute.max_size}"
        if isinstance(compute, ray.data.TaskPoolStrategy):
            return f"{self.label}, up to {compute.size} at once"
        return self.label

    def resources(self) -> str:
        """The resources each task or actor asks for."""
        gpus, cpus = self.options.get("num_gpus", 0), self.options.get("num_cpus", 1)
        unit = "actor" if isinstance(self.options.get("compute"), ray.data.ActorPoolStrategy) else "task"
        return f"{gpus:g} GPU per {unit}" if gpus else f"{cpus:g} CPU per {unit}"


@dataclass
class ImagePipeline:
    """A Ray Data plan from decode units to embedded rows.

    Attributes:
        dataset: The lazy Ray dataset; iterate it to run the plan.
        stages: The steps that built it, for `describe()`.

    """

    dataset: ray.data.Dataset
    stages: list[Stage] = field(default_factory=list)

    def describe(self) -> str:
        """One line per step: name, how it runs, resources, columns needed and made."""
        return describe_stages(self.stages)


def describe_stages(stages: list[Stage]) -> str:
    """One line per step, the first being the units the driver hands in."""
    lines = [f"1. {'units':<8} {'driver':<34} {'-':<22} needs [] -> makes [{', '.join(UNIT_SCHEMA.names)}]"]
    for index, stage in enumerate(stages, start=2):
        lines.append(
            f"{index}. {stage.name:<8} {stage.runs_as():<34} {stage.resources():<22} "
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
    samples = unit_samples(units)
    stages = plan_stages(config, cluster, location=input_location, state_ref=ray.put(model_state))
    per_block = block_samples(config, cluster, int(samples.sum()))
    dataset: ray.data.Dataset = ray.data.from_arrow(unit_blocks(units, samples, per_block))
    for stage in stages:
        dataset = stage.apply(dataset)
    return ImagePipeline(dataset=dataset, stages=stages)


def decode_task_count(config: RunConfig, cluster: ClusterShape) -> int:
    """Decode tasks at once: `loader.num_workers`, or every CPU when it is -1."""
    workers = config.lightly_config.loader.num_workers
    return cluster.cpus if workers < 1 else workers


def block_samples(config: RunConfig, cluster: ClusterShape, total_samples: int) -> int:
    """Samples per decode block: small for small inputs, so that every task has work (4 blocks each)."""
    tasks = decode_task_count(config, cluster)
    return max(1, min(MAX_SAMPLES_PER_DECODE_BLOCK, -(-total_samples // (4 * tasks))))


def plan_stages(
    config: RunConfig, cluster: ClusterShape, *, location: Location | None = None, state_ref: Any = None
) -> list[Stage]:
    """The decode and embed steps for a cluster of this shape; nothing is started.

    Args:
        config: The run configuration.
        cluster: The resources to plan for.
        location: The input location (None for a plan that is only described, `--dry-run`).
        state_ref: The model weights in the object store (None for a plan only described).

    Returns:
        The steps in order; `Stage.apply` builds them, `describe_stages` shows them.

    """
    lightly = config.lightly_config
    if cluster.gpus > 0:
        actors, actor_cpus, actor_gpus = cluster.gpus, 1.0, 1.0
    else:
        actors, actor_cpus, actor_gpus = max(1, cluster.cpus - 1), 1.0, 0.0
    decode = Stage(
        name="decode",
        fn=decode_units,
        options={
            "fn_kwargs": {"location": location, "input_size": lightly.collate.input_size},
            "batch_size": None,  # one block, cut to about `block_samples` samples, per task
            "num_cpus": 1,
            "compute": ray.data.TaskPoolStrategy(size=decode_task_count(config, cluster)),
            "udf_modifying_row_count": True,
        },
        needs=("source", "video segment"),
        makes=(*(column for column in SAMPLE_COLUMNS if not column.startswith("lightly_")), "lightly_*"),
    )
    embed = Stage(
        name="embed",
        fn=EmbedImages,
        options={
            "fn_constructor_kwargs": {
                "model": lightly.model,
                "state_ref": [state_ref],
                "normalize": config.worker_config.normalize_embeddings,
            },
            "compute": ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
            "batch_size": lightly.loader.batch_size,
            "udf_modifying_row_count": False,
            "num_cpus": actor_cpus,
            "num_gpus": actor_gpus,
        },
        needs=("image", "ok"),
        makes=("embedding",),
        label=f"{lightly.model.name} actors",
    )
    return [decode, embed]


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
