"""A step of the plan (one `map_batches`) and the plan's description (`lightly-ray run --dry-run`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import ray
import ray.data


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
        note: Added to the resources, e.g. "4 torch threads".

    """

    name: str
    fn: Any
    options: dict[str, Any]
    needs: tuple[str, ...]
    makes: tuple[str, ...]
    label: str = "tasks"
    note: str = ""

    def apply(self, dataset: ray.data.Dataset) -> ray.data.Dataset:
        """The dataset with this step mapped over it."""
        with warnings.catch_warnings():
            # Retries and restarts (resources.retries) have no named parameter of map_batches in
            # the Ray this project pins (2.60), which warns that such keywords go in Ray 2.64.
            warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
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
        text = f"{gpus:g} GPU per {unit}" if gpus else f"{cpus:g} CPU per {unit}"
        custom = self.options.get("resources") or {}
        text += "".join(f" + {amount:g} {name}" for name, amount in sorted(custom.items()))
        return f"{text}, {self.note}" if self.note else text


def describe_stages(stages: list[Stage]) -> str:
    """One line per step, the first being the units the driver hands in."""
    width = max(8, *(len(stage.name) for stage in stages))
    # The units' own columns (sources, video segments' timestamps) are the driver's business.
    lines = [f"1. {'units':<{width}} {'driver':<34} {'-':<34} makes the decode units (files, video segments)"]
    for index, stage in enumerate(stages, start=2):
        lines.append(
            f"{index}. {stage.name:<{width}} {stage.runs_as():<34} {stage.resources():<34} "
            f"needs [{', '.join(stage.needs)}] -> makes [{', '.join(stage.makes)}]"
        )
    return "\n".join(lines)


def torch_threads_note(threads: int) -> str:
    """A step's note on a CPU: "1 torch thread", "4 torch threads"."""
    return f"{threads} torch thread{'' if threads == 1 else 's'}"


__all__ = ["Stage", "describe_stages", "torch_threads_note"]
