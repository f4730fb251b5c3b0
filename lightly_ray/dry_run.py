"""`lightly-ray run --dry-run`: what a run would read and how it would run, doing none of it.

After the checks of `preflight`, the input is listed (images, videos and the other files, by
extension) and the plan is described from the same stage objects that build it
(`pipeline.build.plan_stages`), for the cluster the run would use: the one named by `--address`
(joined only to read its CPUs and GPUs), else this machine. Nothing is decoded, embedded or
written; no run folder is created.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lightly_ray.pipeline.build import plan_stages
from lightly_ray.pipeline.input_kinds import describe_counts, is_video_file
from lightly_ray.pipeline.listing import list_images
from lightly_ray.pipeline.sizing import ClusterShape
from lightly_ray.pipeline.stage import describe_stages
from lightly_ray.preflight import PreparedRun
from lightly_ray.preflight.hub_weights import hub_weights_problem
from lightly_ray.selection.explain import describe_input

if TYPE_CHECKING:
    from lightly_ray.training.trainer import NodeShape


@dataclass
class DryRun:
    """What a run would do."""

    input_url: str
    lightly_url: str
    images: int
    videos: int
    other_files: dict[str, int]
    cluster: ClusterShape
    plan: str
    selection: list[str] = field(default_factory=list)
    budget: str = ""
    training: str = ""
    weights: str = ""
    datapool: str = ""

    def text(self) -> str:
        """The report a person reads."""
        other = describe_counts(Counter(self.other_files)) if self.other_files else "none"
        lines = [
            "dry run: nothing is decoded, embedded or written",
            f"  input:      {self.input_url}: {self.images} images, {self.videos} videos"
            + (" (their frames are counted when a run indexes them)" if self.videos else ""),
            f"  not read:   {other}",
            f"  lightly:    {self.lightly_url}",
            f"  selection:  {self.budget}; " + "; ".join(self.selection),
            *([f"  datapool:   {self.datapool}"] if self.datapool else []),
            f"  plan on {self.cluster.describe()}:",
            *(f"    {line}" for line in self.plan.splitlines()),
        ]
        if self.training:
            lines.append(f"  training before embed: {self.training}")
        if self.weights:
            lines.append(f"  a run here would stop: {self.weights}")
        return "\n".join(lines)

    def document(self) -> dict[str, Any]:
        """The same as JSON."""
        return {
            "input": self.input_url,
            "lightly": self.lightly_url,
            "images": self.images,
            "videos": self.videos,
            "otherFiles": self.other_files,
            "cpus": self.cluster.cpus,
            "gpus": self.cluster.gpus,
            "plan": self.plan.splitlines(),
            "budget": self.budget,
            "strategies": self.selection,
            "training": self.training or None,
            "weightsProblem": self.weights or None,
            "datapool": self.datapool or None,
        }


def dry_run(prepared: PreparedRun) -> DryRun:
    """List the input and describe the plan of a checked run; run nothing."""
    listed = list_images(prepared.input_location, prepared.relevant)
    names = listed.table.column("name").to_pylist()
    videos = sum(1 for name in names if is_video_file(name))
    cluster, nodes = _cluster(prepared)
    selection = prepared.config.selection_config
    budget = (
        f"n_samples {selection.n_samples}"
        if selection.n_samples is not None
        else f"proportion_samples {selection.proportion_samples}"
    )
    return DryRun(
        input_url=prepared.input_location.url,
        lightly_url=prepared.lightly_location.url,
        images=len(names) - videos,
        videos=videos,
        other_files=dict(sorted(listed.other_files.items())),
        cluster=cluster,
        plan=describe_stages(plan_stages(prepared.config, cluster)),
        selection=[f"{entry.strategy.type} on {describe_input(entry)}" for entry in selection.strategies],
        budget=budget,
        training=_training(prepared, nodes),
        weights=hub_weights_problem(prepared.config) or "",
        datapool=_datapool(prepared, listed.table),
    )


def _datapool(prepared: PreparedRun, listing: pa.Table) -> str:
    """What a datapool rerun would process and preselect ("" for a first run, or without the datapool)."""
    config, held = prepared.config, prepared.dataset
    worker = config.worker_config
    if not worker.use_datapool or not held.state.runs:
        return ""
    from lightly_ray.datasets import plan_datapool
    from lightly_ray.datasets.settings import embedding_settings

    plan = plan_datapool(
        listing,
        held.dataset,
        held.state,
        embedding_settings(config),
        use_datapool=True,
        process_all=worker.datasource.process_all,
        relevant=prepared.relevant,
    )
    preselected = held.state.sample_count
    new = (
        "every listed file is a candidate (process_all)"
        if plan.new_files is None
        else (
            f"{len(plan.new_files)} of {listing.num_rows} listed files are new (only they are decoded "
            "and candidates; process_all: true makes every file one)"
        )
    )
    text = f"dataset '{held.dataset.name}' holds {preselected} samples, preselected; {new}"
    selection = config.selection_config
    if selection.n_samples is not None and selection.n_samples <= preselected:
        text += (
            f"; n_samples {selection.n_samples} counts the preselected, which reach it already: "
            "nothing new would be selected"
        )
    return text


def _training(prepared: PreparedRun, nodes: list[NodeShape]) -> str:
    """How `enable_training` would train on a cluster of these nodes ("" without training).

    Raises:
        ConfigError: As the run would, on several nodes without `resources.training.storage_path`.
    """
    config = prepared.config
    epochs = config.lightly_config.trainer.max_epochs
    if not config.worker_config.enable_training or epochs == 0:
        return ""
    from lightly_ray.training.in_run import check_training_storage
    from lightly_ray.training.trainer import training_shape

    check_training_storage(config, len(nodes))
    settings = config.resources.training
    shape = training_shape(config.lightly_config, nodes, settings.workers, settings.torch_threads)
    return f"{epochs} epoch{'' if epochs == 1 else 's'} of SimCLR on Ray Train, {shape.describe()}"


def _cluster(prepared: PreparedRun) -> tuple[ClusterShape, list[NodeShape]]:
    """The cluster's resources for the plan, and its nodes (`--address`, else this machine)."""
    from lightly_ray.training.trainer import NodeShape, cluster_nodes

    if prepared.address is None:
        from lightly_ray.selection.placement import nvidia_device_visible

        cpus, gpus = os.cpu_count() or 1, _cuda_device_count() if nvidia_device_visible() else 0
        return ClusterShape(cpus=cpus, gpus=gpus), [NodeShape(cpus, gpus)]
    from lightly_ray.ray_session import ray_session

    with ray_session(prepared.address, prepared.connect_timeout_s):
        return ClusterShape.current(), cluster_nodes()


def _cuda_device_count() -> int:
    import torch

    return int(torch.cuda.device_count())
