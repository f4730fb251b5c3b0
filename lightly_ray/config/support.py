"""Which valid configurations this version can run.

Validation accepts every key of the Lightly Worker. The features behind some keys arrive in
later versions; a run that asks for one stops before any work, naming the keys, instead of
silently ignoring them.
"""

from __future__ import annotations

from lightly_ray.config.run_config import PRETAGGING_TASK, RunConfig
from lightly_ray.config.selection import EmbeddingsInput


def unsupported_features(config: RunConfig) -> list[str]:
    """List the features a configuration uses that this version cannot run.

    Args:
        config: A validated run configuration.

    Returns:
        One line per feature, naming the config key; empty when the run can go ahead.

    """
    worker = config.worker_config
    found = []
    if worker.enable_training:
        found.append("worker_config.enable_training: true (self-supervised training)")
    if worker.pretagging and worker.embeddings is not None:
        found.append(
            "worker_config.pretagging together with worker_config.embeddings (precomputed embeddings "
            "skip decoding, so the detector would see no image)"
        )
    if worker.object_level.task_name is not None:
        combined = {
            "worker_config.pretagging": worker.pretagging
            and worker.object_level.task_name != PRETAGGING_TASK,
            "worker_config.use_datapool": worker.use_datapool,
            "worker_config.selected_sequence_length": worker.selected_sequence_length is not None,
            "worker_config.embeddings": worker.embeddings is not None,
        }
        found += [
            f"worker_config.object_level.task_name together with {key} (not yet: object crops of a "
            "run come from one detection task, without the datapool or sequences)"
            for key, on in combined.items()
            if on
        ]
    if worker.object_level.padding and worker.object_level.task_name is None:
        found.append("worker_config.object_level.padding without object_level.task_name")
    if worker.object_level.crop_dataset_name and worker.object_level.task_name is None:
        found.append("worker_config.object_level.crop_dataset_name without object_level.task_name")
    if config.lightly_config.model.width != 1:
        found.append(
            f"lightly_config.model.width: {config.lightly_config.model.width} "
            "(the torchvision backbones have width 1)"
        )
    for index, entry in enumerate(config.selection_config.strategies):
        if isinstance(entry.input, EmbeddingsInput) and entry.input.task is not None:
            found.append(
                f"selection_config.strategies[{index}].input.task: {entry.input.task!r} "
                "(object embeddings come with object crops)"
            )
    return found
