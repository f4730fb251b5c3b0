"""`resources`: how much of the cluster each stage of a run uses (a lightly_ray block).

The Lightly Worker runs on one machine and has no such block; on a Ray cluster the split of
CPUs and GPUs between decoding and the model decides the throughput, so it gets one place of
its own. Every key defaults to "fill the cluster": leave the block out unless a measurement
says otherwise. `lightly-ray run --dry-run` prints the plan these values give.

Example:
    resources:
      decode: {cpus_per_task: 1, max_tasks: 12}
      pretag: {max_actors: 4, gpus_per_actor: 0.5}
      embed: {max_actors: 4, gpus_per_actor: 0.5, batch_size: 128}
      selection: {device: auto, driver_memory_gb: 16}
      training: {workers: 4, storage_path: s3://bucket/ray-train}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lightly_ray.config.base import StrictModel

EMBED_BATCH_SIZE = 128


class DecodeResources(StrictModel):
    """`resources.decode`: the CPU tasks that read, decode and describe the samples."""

    cpus_per_task: float | None = Field(
        default=None,
        gt=0,
        description="CPUs each decode task reserves; fractions run more tasks per CPU. Default: 1, or "
        "less so that every decode task fits beside the first model actors, (CPUs - what they "
        "reserve) / decode tasks: 0.5 each on 2 CPUs with one embedding actor. With pretagging "
        "on CPUs the detector actors decode their own blocks unless this or max_tasks is set.",
    )
    max_tasks: int | None = Field(
        default=None,
        gt=0,
        description="Decode tasks at once. Default: lightly_config.loader.num_workers, or (when "
        "that is -1) every CPU of the cluster.",
    )
    samples_per_block: int = Field(
        default=512,
        gt=0,
        description="Most samples (images or video frames) one decode task makes before handing "
        "them on; smaller blocks start the model sooner, larger ones cost less overhead.",
    )


class ModelActorResources(StrictModel):
    """The actors that hold a model: shared keys of `resources.embed` and `resources.pretag`."""

    max_actors: int | None = Field(
        default=None,
        gt=0,
        description="Most actors. Default: one per GPU (scaled by gpus_per_actor), or on a cluster "
        "without GPUs one per 4 CPUs (at least one); the detector's: one per CPU, at most one per "
        "2 GiB of Ray's memory.",
    )
    min_actors: int | None = Field(
        default=None,
        gt=0,
        description="Actors started before the first batch. Default: 1; the detector's on a cluster "
        "without GPUs that does not autoscale: all of max_actors.",
    )
    cpus_per_actor: float | None = Field(
        default=None,
        gt=0,
        description="CPUs each actor reserves. Default: 1, or 0.5 for each of the two models when "
        "pretagging runs too, so that a detector and an embedding actor leave a CPU to the decode "
        "tasks on a small machine.",
    )
    gpus_per_actor: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="GPUs each actor reserves; a fraction puts several actors on one GPU. "
        "Default: 1 when the cluster has GPUs (0.5 for each of the two models when pretagging "
        "runs too, so that both share every GPU), else 0.",
    )
    torch_threads: int | None = Field(
        default=None,
        gt=0,
        description="torch threads per actor on CPU. Default: the cluster's CPUs divided by the "
        "actors, so that the model also uses the cores the decode tasks leave idle once they are "
        "done (decoding is several times cheaper than the model); 1 for the embedding actors "
        "beside CPU detector actors, which keep every core busy.",
    )

    custom_resources: dict[str, float] = Field(
        default_factory=dict,
        description='Ray custom resources each actor needs, e.g. {"model_node": 1}: the actors then '
        "run only on nodes that declare them (`ray start --resources`, a node type's `resources` in "
        "a cluster config). Default: none. The default max_actors then also fits the cluster's total.",
    )

    @model_validator(mode="after")
    def _min_within_max(self) -> ModelActorResources:
        for name, amount in self.custom_resources.items():
            if amount <= 0 or name in ("CPU", "GPU", "memory"):
                raise ValueError(
                    f"custom_resources: '{name}': {amount} must be a positive amount of a custom "
                    "resource (CPUs and GPUs have their own keys)"
                )
        if self.max_actors is not None and self.min_actors is not None and self.min_actors > self.max_actors:
            raise ValueError(f"min_actors ({self.min_actors}) exceeds max_actors ({self.max_actors})")
        return self


class EmbedResources(ModelActorResources):
    """`resources.embed`: the actors that hold the embedding model."""

    batch_size: int | None = Field(
        default=None,
        gt=0,
        description="Samples per model batch when embedding. Default: lightly_config.loader.batch_size "
        f"or {EMBED_BATCH_SIZE}, whichever is larger (the batch does not change the embeddings; "
        "small ones cost per-call overhead).",
    )

    driver_max_samples: int = Field(
        default=512,
        ge=0,
        description="A datapool rerun with at most this many samples to embed, on a cluster without "
        "GPUs, decodes and embeds them in the driver process instead of starting the pipeline's "
        "actors (seconds for a few new files); 0 always starts the pipeline.",
    )


class SelectionResources(StrictModel):
    """`resources.selection`: where the DIVERSITY picks are computed (the picks are the same)."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="auto: the driver's CUDA GPU when it has one (for 20,000 candidates and more), "
        "else its CPUs; cpu; cuda (an error without a GPU).",
    )
    driver_memory_gb: float | None = Field(
        default=None,
        gt=0,
        description="When the candidates' float32 embeddings exceed this many GB, DIVERSITY runs on "
        "Ray actors that each hold a shard of them (on the cluster's nodes) instead of in the driver. "
        "Default: half the memory the driver can still take when selection starts (its machine's, or "
        "its container's cgroup limit), on a cluster of several nodes; no limit on one node.",
    )
    shards: int | None = Field(
        default=None,
        gt=0,
        description="Actors of a sharded selection. Default: enough for shards of at most "
        "driver_memory_gb each, at least 2 and one per node.",
    )


class RetryResources(StrictModel):
    """`resources.retries`: how often work lost with a worker process or node is tried again."""

    tasks: int = Field(
        default=10,
        ge=-1,
        description="Attempts of a decode task after its worker or node died (node loss, out-of-memory "
        "kill) beyond the first; the blocks it made are rebuilt the same way. -1: forever (Ray Data's "
        "own default). A file that cannot be decoded is not retried: it is a corrupt sample.",
    )
    actors: int = Field(
        default=10,
        ge=-1,
        description="Restarts of each detector and embedding actor after its process or node died, and "
        "retries of the batches it held. -1: forever (Ray Data's own default); 0: none.",
    )


class TrainingResources(StrictModel):
    """`resources.training`: the Ray Train workers of worker_config.enable_training."""

    workers: int | None = Field(
        default=None,
        gt=0,
        description="Data-parallel training workers. Default: one per GPU of the cluster, at most "
        "lightly_config.trainer.gpus on each node; without GPUs one CPU worker.",
    )
    torch_threads: int | None = Field(
        default=None,
        gt=0,
        description="torch threads of a CPU training worker. Default: the CPUs of the largest node.",
    )
    checkpoint_every_s: float = Field(
        default=60.0,
        ge=0,
        description="Seconds of training between checkpoints: one after the first epoch that ends "
        "this long after the previous one (or the start). A failure loses at most this much work "
        "plus an epoch; 0 checkpoints every epoch.",
    )
    max_failures: int = Field(
        default=3,
        ge=-1,
        description="Times a failed worker group (a process or node lost) restarts from the last "
        "epoch's checkpoint (in Ray Train's local mode, one CPU worker on one node: retries of the "
        "training task). -1: forever; 0: the run fails with the first.",
    )
    storage_path: str | None = Field(
        default=None,
        min_length=1,
        description="Where Ray Train keeps its checkpoints: a folder every training node "
        "reaches (NFS, or an s3:// or gs:// URL), required on a cluster of several nodes. "
        "Default on one node: the system's temporary folder.",
    )


class ResourcesConfig(StrictModel):
    """`resources`: the share of the cluster of each stage."""

    decode: DecodeResources = Field(default_factory=DecodeResources)
    pretag: ModelActorResources = Field(
        default_factory=ModelActorResources,
        description="The detector actors of worker_config.pretagging (batch size: "
        "lightly_config.pretagging.batch_size).",
    )
    embed: EmbedResources = Field(default_factory=EmbedResources)
    selection: SelectionResources = Field(default_factory=SelectionResources)
    retries: RetryResources = Field(default_factory=RetryResources)
    training: TrainingResources = Field(default_factory=TrainingResources)
