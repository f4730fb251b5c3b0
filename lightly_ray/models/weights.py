"""The models' weights, built in a task on the driver's node and kept in the object store.

The embedding model's and the detector's weights are built once per run and shared with every
actor through the object store (numpy state dicts: `ModelState`, `DetectorState`), so that all
actors use identical weights and no worker needs the torch hub cache. The driver holds only
their object reference: the actors read them from the store, and the driver reads them
(`ray.get`, which maps the arrays from the store rather than copying them) only where it uses
them itself (training, a rerun that embeds in the driver). Building them needs
torch, which the driver itself does not import: importing it costs a process about 530 MB of
resident memory (300 MB of it its own), which a driver holding tens of millions of samples
should spend on them (docs/scaling.md). So the weights are built by a Ray task pinned to the
driver's node (the same torch hub cache and files as the driver) that asks for no CPU, so it
runs even where the head node offers none to tasks. A process that has torch loaded already (a
notebook, a benchmark, the tests) builds them itself and puts them into the store from there.
Either way Ray must be running (a run starts it before building them).

A user's mistake found while building (weights that cannot be had, a checkpoint that does not
fit) is raised in the driver as the same error, with the same message, as if built here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from lightly_ray.config.lightly import ModelConfig, PretaggingConfig
from lightly_ray.errors import LightlyRayError

ModelState = dict[str, np.ndarray]
DetectorState = dict[str, np.ndarray]
# The weights in the object store, as the driver holds them.
ModelWeights = ray.ObjectRef[ModelState]
DetectorWeights = ray.ObjectRef[DetectorState]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def embedding_weights(
    model: ModelConfig, seed: int, checkpoint: bytes | None, source: str, *, here: bool | None = None
) -> ModelWeights:
    """The embedding model's weights (`backbones.build_state`), built on the driver's node, in the store.

    Ray must be running (a run starts it first). The reference is returned once they are
    built, so that a mistake stops the run before any work.

    Args:
        model: `lightly_config.model`.
        seed: `lightly_config.seed`, for random weights and the projection.
        checkpoint: The bytes of `worker_config.checkpoint`, which override `model.weights`.
        source: Where the checkpoint came from, for error messages.
        here: Build them in this process (True) or in a task (False). None: here when torch is
            loaded in this process already (a notebook, a benchmark), as the task only keeps
            it out of a driver without it. A datapool rerun says True: it often embeds its few
            new files in the driver with torch (`pipeline/in_driver.py`) and would otherwise
            start a process for the weights alone.

    Raises:
        WeightsNotAvailableError: When the weights cannot be had, listing the options.
        ConfigError: When the checkpoint does not fit the model.

    """
    if _here(here):
        return ray.put(_build_embedding_weights(model, seed, checkpoint, source))
    return _on_this_node(_build_embedding_weights, model, seed, checkpoint, source)


def detector_weights(
    settings: PretaggingConfig, seed: int, checkpoint: bytes | None, *, here: bool | None = None
) -> DetectorWeights:
    """The detector's weights (`detector.build_detector_state`) in the object store, as `embedding_weights`.

    Args:
        settings: `lightly_config.pretagging`.
        seed: `lightly_config.seed`, for random weights.
        checkpoint: The checkpoint file's bytes when `settings.weights` names one.
        here: As for `embedding_weights`.

    Raises:
        WeightsNotAvailableError: When the weights cannot be had, listing the options.

    """
    if _here(here):
        return ray.put(_build_detector_weights(settings, seed, checkpoint))
    return _on_this_node(_build_detector_weights, settings, seed, checkpoint)


def _here(here: bool | None) -> bool:
    return "torch" in sys.modules if here is None else here


def _build_embedding_weights(
    model: ModelConfig, seed: int, checkpoint: bytes | None, source: str
) -> ModelState:
    from lightly_ray.models.backbones import build_state
    from lightly_ray.models.checkpoint import read_checkpoint

    tensors = read_checkpoint(checkpoint, model, source) if checkpoint is not None else None
    return build_state(model, seed, tensors)


def _build_detector_weights(settings: PretaggingConfig, seed: int, checkpoint: bytes | None) -> DetectorState:
    from lightly_ray.models.detector import build_detector_state

    return build_detector_state(settings, seed, checkpoint)


def _on_this_node(build: Callable[..., dict[str, np.ndarray]], *args: object) -> ModelWeights:
    """The reference to `build(*args)`'s result, built in a task on this process's node."""
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    task: Any = ray.remote(build).options(num_cpus=0, scheduling_strategy=here)
    built: ModelWeights = task.remote(*args)
    try:
        ray.get(built)  # waits, and raises what building raised; the arrays are mapped, not read
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, LightlyRayError):  # the user's mistake, as it was raised
            raise error.cause from None
        raise
    return built
