"""Which valid configurations this version can run.

Validation accepts every key of the Lightly Worker. The features behind some keys arrive in
later versions; a run that asks for one stops before any work, naming the keys, instead of
silently ignoring them.
"""

from __future__ import annotations

from lightly_ray.config.run_config import PRETAGGING_TASK, RunConfig, object_embedding_tasks


def unsupported_features(config: RunConfig) -> list[str]:
    """List the features a configuration uses that this version cannot run.

    Args:
        config: A validated run configuration.

    Returns:
        One line per feature, naming the config key; empty when the run can go ahead.

    """
    worker = config.worker_config
    found = []
    trained_task = worker.training.task_name
    if trained_task is not None and trained_task != config.crop_task():
        found.append(
            f"worker_config.training.task_name '{trained_task}' without cutting the objects of that "
            "task (set worker_config.object_level.task_name to it: a run trains on the crops it cuts)"
        )
    if worker.pretagging and worker.embeddings is not None:
        found.append(
            "worker_config.pretagging together with worker_config.embeddings (precomputed embeddings "
            "skip decoding, so the detector would see no image)"
        )
    tasks = object_embedding_tasks(config)
    if len(tasks) > 1:
        found.append(
            "selection_config.strategies: EMBEDDINGS inputs with different tasks "
            f"({', '.join(tasks)}); one run cuts the objects of one task"
        )
    if worker.object_level.task_name is not None or tasks:
        key = (
            "worker_config.object_level.task_name"
            if worker.object_level.task_name is not None
            else "an EMBEDDINGS input with task"
        )
        task = config.crop_task()
        combined = {
            "worker_config.pretagging": worker.pretagging and task != PRETAGGING_TASK,
            "worker_config.use_datapool": worker.use_datapool and bool(tasks),
            "worker_config.selected_sequence_length": worker.selected_sequence_length is not None,
            "worker_config.embeddings": worker.embeddings is not None,
        }
        found += [
            f"{key} together with {other} (not yet: a run's object crops come from one detection "
            "task, cut from the images it decodes)"
            for other, on in combined.items()
            if on
        ]
    if config.lightly_config.model.width != 1:
        found.append(
            f"lightly_config.model.width: {config.lightly_config.model.width} "
            "(the torchvision backbones have width 1)"
        )
    return found
