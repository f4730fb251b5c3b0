"""How large the plan's steps are: decode tasks and blocks, model actors and their resources.

Everything here reads the cluster's shape (`ClusterShape`) and `config.resources`, and decides
nothing else: `build.plan_stages` wires the steps with these sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ray

from lightly_ray.config.resources import EMBED_BATCH_SIZE, ModelActorResources
from lightly_ray.config.run_config import RunConfig
from lightly_ray.errors import ConfigError


@dataclass(frozen=True)
class ClusterShape:
    """The resources the plan may use: CPUs, GPUs, the custom resources by name, Ray's memory.

    On an autoscaling cluster these are what it can grow to (its autoscaler's node groups at
    their most nodes), so that actor pools are sized for the grown cluster and Ray Data asks
    the autoscaler for the nodes as the pools grow; `now` holds what is up at plan time.
    `memory` is the bytes Ray lets tasks and actors reserve (its `memory` resource; 0: unknown).
    """

    cpus: int
    gpus: int
    custom: Mapping[str, float] = field(default_factory=dict)
    now: Mapping[str, float] = field(default_factory=dict)
    memory: float = 0.0

    @classmethod
    def current(cls) -> ClusterShape:
        """Read the connected Ray cluster's CPUs, GPUs and custom resources (grown, if it autoscales)."""
        up = {name: float(amount) for name, amount in ray.cluster_resources().items()}  # type: ignore[no-untyped-call]
        resources = dict(up)
        for name, most in (autoscaling_ceiling() or {}).items():
            resources[name] = max(resources.get(name, 0.0), most)
        custom = {
            name: amount
            for name, amount in resources.items()
            if name not in ("CPU", "GPU", "memory", "object_store_memory")
            and not name.startswith(("node:", "accelerator_type:"))
        }
        grows = resources.get("CPU", 0) > up.get("CPU", 0) or resources.get("GPU", 0) > up.get("GPU", 0)
        return cls(
            cpus=max(1, int(resources.get("CPU", 1))),
            gpus=int(resources.get("GPU", 0)),
            custom=custom,
            now={"CPU": up.get("CPU", 0.0), "GPU": up.get("GPU", 0.0)} if grows else {},
            memory=resources.get("memory", 0.0),
        )

    def describe(self) -> str:
        """`8 CPUs, 1 GPUs`, or with an autoscaler `2 CPUs, 0 GPUs now, up to 34 CPUs, 4 GPUs`."""
        most = f"{self.cpus} CPUs, {self.gpus} GPUs"
        if not self.now:
            return most
        return f"{self.now['CPU']:g} CPUs, {self.now['GPU']:g} GPUs now, up to {most} (autoscaling)"


# A node group without a most count (max_count -1) makes Ray report sys.maxsize: no ceiling then.
UNBOUNDED = 2**31


def autoscaling_ceiling() -> dict[str, float] | None:
    """The most of each resource the cluster's autoscaler may start, or None when unknown.

    Ray's autoscaler (v2, the one KubeRay and `ray up` run from Ray 2.10 on when enabled) keeps
    its node groups in the GCS; Ray Data and Ray Train read the same numbers through this
    developer API. Unbounded groups and clusters without an autoscaler give None per resource.
    """
    try:
        from ray._private.state import state

        ceiling = state.get_max_resources_from_cluster_config()
    except (ImportError, AttributeError, RuntimeError, ValueError):  # another Ray, or no GCS: unknown
        return None
    if not ceiling:
        return None
    return {name: float(amount) for name, amount in ceiling.items() if 0 < amount < UNBOUNDED}


def decode_task_count(config: RunConfig, cluster: ClusterShape) -> int:
    """Decode tasks at once: `resources.decode.max_tasks`, else `loader.num_workers`, else every CPU."""
    configured = config.resources.decode.max_tasks
    if configured is not None:
        return configured
    workers = config.lightly_config.loader.num_workers
    return cluster.cpus if workers < 1 else workers


DETECT_BLOCK_BYTES = 128 << 20
BLOCKS_PER_DETECTOR = 24
AUTOSCALING_MIN_BLOCK = 32


def block_samples(config: RunConfig, cluster: ClusterShape, total_samples: int) -> int:
    """Samples per decode block: small for small inputs, so that every task has work (4 blocks each).

    With pretagging, a block also carries each sample's detector image (`image_size` squared, 3
    bytes a pixel): blocks then hold at most about DETECT_BLOCK_BYTES of them (69 at 800 px), and
    a whole number of detector batches where that fits, so that no batch of the detector actors
    is a block's remainder. A video segment stays whole, so its frames' detector images can
    exceed it. Each detector actor also gets about BLOCKS_PER_DETECTOR blocks or more: an actor
    takes a whole block, so at the end of a run one actor can still be on its last block while
    the others have none; with 9 blocks of 24 images for two CPU actors (200 images), that was
    a third of the run on one actor (trace of `bench/objects.py`).
    """
    tasks = decode_task_count(config, cluster)
    most = config.resources.decode.samples_per_block
    wanted = -(-total_samples // (4 * tasks))
    if cluster.now:  # sized for the grown cluster: not blocks of a few samples while it grows
        wanted = max(wanted, min(most, AUTOSCALING_MIN_BLOCK))
    if not config.worker_config.pretagging:
        return max(1, min(most, wanted))
    side = config.lightly_config.pretagging.image_size
    most = min(most, max(1, DETECT_BLOCK_BYTES // (3 * side * side)))
    detectors = pretag_shape(config, cluster).max_actors
    wanted = min(wanted, -(-total_samples // (BLOCKS_PER_DETECTOR * detectors)))
    batch = config.lightly_config.pretagging.batch_size
    if batch > most:
        return most
    return max(batch, min(most, wanted) // batch * batch)


@dataclass(frozen=True)
class ActorShape:
    """How a model's actors are laid out: the defaults of `resources.embed` or `.pretag` resolved."""

    min_actors: int
    max_actors: int
    cpus: float
    gpus: float
    torch_threads: int
    batch_size: int


@dataclass(frozen=True)
class CpuLayout:
    """A model's defaults on a cluster without GPUs (its keys in `resources` set win).

    Attributes:
        actors: The default max_actors.
        start_all: The default min_actors is `actors` (else 1).
        threads: The default torch threads (None: the cluster's CPUs over the actors).
    """

    actors: int
    start_all: bool = False
    threads: int | None = None


def embed_shape(config: RunConfig, cluster: ClusterShape) -> ActorShape:
    """Resolve `resources.embed` for a cluster of this shape (see `actor_shape`).

    Without GPUs: one actor per 4 CPUs, with torch on its share of every CPU; beside CPU
    detector actors, which keep every core busy, one torch thread.
    """
    wanted = config.resources.embed
    batch = wanted.batch_size or max(config.lightly_config.loader.batch_size, EMBED_BATCH_SIZE)
    share = share_of(config)
    pretag = config.resources.pretag
    beside_cpu_detectors = config.worker_config.pretagging and actor_gpus(pretag, cluster, share) == 0
    cpu = CpuLayout(cluster.cpus // 4, threads=1 if beside_cpu_detectors else None)
    return actor_shape(wanted, "resources.embed", cluster, share, batch, cpu)


def pretag_shape(config: RunConfig, cluster: ClusterShape) -> ActorShape:
    """Resolve `resources.pretag` for a cluster of this shape (see `actor_shape`).

    Without GPUs the detector runs as one actor per CPU with one torch thread each, at most one
    per DETECTOR_ACTOR_BYTES of Ray's memory, all started before the first batch (unless the
    cluster autoscales): Faster R-CNN's many small steps (proposals, box heads, one image at a
    time) keep a second thread of the same process idle much of the time, and two processes of
    one thread detect about 25% more images a second than one of two on 2 CPUs (3.1 against
    2.5 img/s at 320 px in `bench/objects.py`, docs/pretagging.md). The detector is then the
    pipeline's slowest step, so the pool would grow to all of them anyway, only later.
    """
    batch = config.lightly_config.pretagging.batch_size
    per_cpu = cluster.cpus
    if cluster.memory > 0:
        per_cpu = max(1, min(per_cpu, int(cluster.memory // DETECTOR_ACTOR_BYTES)))
    cpu = CpuLayout(per_cpu, start_all=not cluster.now)
    return actor_shape(config.resources.pretag, "resources.pretag", cluster, share_of(config), batch, cpu)


# Measured peak RSS of a CPU detector process of one torch thread, batch 4: 1.5 GB at 320 px,
# 2.0 GB at 800 px (with a second copy of the weights that an actor does not hold).
DETECTOR_ACTOR_BYTES = 2 << 30


def actor_shape(
    wanted: ModelActorResources,
    key: str,
    cluster: ClusterShape,
    share: float,
    batch_size: int,
    cpu: CpuLayout,
) -> ActorShape:
    """Resolve a model's actor resources for a cluster of this shape.

    `share` is 1, or 0.5 when the detector and the embedding model share the machines: the
    default of `gpus_per_actor` on a cluster with GPUs and of `cpus_per_actor`. With GPUs: one
    actor per GPU share, one started before the first batch. Without: as `cpu` says.

    Raises:
        ConfigError: When the cluster cannot hold a single actor as configured, or min_actors
            exceeds max_actors.

    """
    gpus = actor_gpus(wanted, cluster, share)
    if gpus > 0 and cluster.gpus == 0:
        raise ConfigError([f"{key}.gpus_per_actor: {gpus:g} asks for GPUs, and the cluster has none"])
    fitting = max(1, int(cluster.gpus / gpus)) if gpus > 0 else max(1, cpu.actors)
    for name, amount in wanted.custom_resources.items():
        total = cluster.custom.get(name, 0.0)
        if total < amount:
            raise ConfigError(
                [
                    f"{key}.custom_resources: an actor needs {amount:g} '{name}', and the cluster has "
                    f"{total:g} (declare it on the nodes that should run the model: ray start --resources)"
                ]
            )
        fitting = min(fitting, int(total / amount)) if gpus > 0 else int(total / amount)
    max_actors = wanted.max_actors if wanted.max_actors is not None else fitting
    min_actors = wanted.min_actors
    if min_actors is None:
        min_actors = max_actors if gpus == 0 and cpu.start_all else 1
    if min_actors > max_actors:
        raise ConfigError([f"{key}.min_actors ({min_actors}) exceeds max_actors ({max_actors})"])
    cpus = wanted.cpus_per_actor if wanted.cpus_per_actor is not None else share
    threads = wanted.torch_threads or cpu.threads or max(1, int(cpus), cluster.cpus // max_actors)
    return ActorShape(
        min_actors=min_actors,
        max_actors=max_actors,
        cpus=cpus,
        gpus=gpus,
        torch_threads=threads,
        batch_size=batch_size,
    )


def actor_gpus(wanted: ModelActorResources, cluster: ClusterShape, share: float) -> float:
    """GPUs each of a model's actors reserves: `gpus_per_actor`, else its share where there are GPUs."""
    return wanted.gpus_per_actor if wanted.gpus_per_actor is not None else (share if cluster.gpus else 0.0)


def decode_cpus(config: RunConfig, cluster: ClusterShape, actors: list[ActorShape]) -> float:
    """CPUs each decode task reserves: `resources.decode.cpus_per_task`, else a share of what is left.

    With 1 CPU a task, the decode tasks the plan allows would not all fit beside the model
    actors' reservation (on 2 CPUs one actor leaves room for one task, and decoding runs one
    file at a time while the actor waits for a batch). By default the tasks share what the
    first actors leave: (CPUs - reserved) / tasks, at most 1. Measured with `bench/ingest.py`
    on 2 CPUs: 1920 px photos 15.2 -> 17.2-17.9 img/s, 256 px 261-265 -> 271-276 img/s.
    """
    configured = config.resources.decode.cpus_per_task
    if configured is not None:
        return configured
    reserved = sum(actor.min_actors * actor.cpus for actor in actors)
    left = cluster.cpus - reserved
    return round(min(1.0, max(MIN_DECODE_CPUS, left / decode_task_count(config, cluster))), 4)


MIN_DECODE_CPUS = 0.05


def check_room_for_decoding(cluster: ClusterShape, actors: list[ActorShape], decode: float) -> None:
    """Refuse a plan whose first actors leave no CPU for a decode task (it would wait forever)."""
    reserved = sum(actor.min_actors * actor.cpus for actor in actors)
    if reserved + decode > cluster.cpus:
        raise ConfigError(
            [
                f"resources: the detector and embedding actors reserve {reserved:g} of the cluster's "
                f"{cluster.cpus} CPUs, which leaves less than a decode task's {decode:g}: lower "
                "resources.pretag/embed.cpus_per_actor or min_actors, or resources.decode.cpus_per_task"
            ]
        )


def custom_options(custom: Mapping[str, float]) -> dict[str, Any]:
    """`map_batches` options for an actor's custom resources (none without)."""
    return {"resources": dict(custom)} if custom else {}


def share_of(config: RunConfig) -> float:
    return 0.5 if config.worker_config.pretagging else 1.0


__all__ = [
    "BLOCKS_PER_DETECTOR",
    "DETECTOR_ACTOR_BYTES",
    "DETECT_BLOCK_BYTES",
    "UNBOUNDED",
    "ActorShape",
    "ClusterShape",
    "CpuLayout",
    "actor_gpus",
    "actor_shape",
    "autoscaling_ceiling",
    "block_samples",
    "check_room_for_decoding",
    "custom_options",
    "decode_cpus",
    "decode_task_count",
    "embed_shape",
    "pretag_shape",
]
