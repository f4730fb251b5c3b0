"""Training inside a run (`worker_config.enable_training`): on the run's decoded rows, before embedding.

The pipeline (`pipeline.build.build_image_pipeline`) materializes the rows its steps before
embedding make and calls `RunTraining.train` with them; the embedding actors then embed the
same rows with the trained weights. The run writes the trained model to its folder as
`checkpoint.ckpt` (lightly_ray's checkpoint layout, `models.checkpoint`, with the
`lightly_config` that trained it and each epoch's loss), which a later run uses with
`worker_config.checkpoint: .lightly/runs/<run id>/checkpoint.ckpt`.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import ray.data
import torch

from lightly_ray.config import RunConfig
from lightly_ray.models.backbones import ModelState
from lightly_ray.pipeline.sizing import ClusterShape
from lightly_ray.progress import logger
from lightly_ray.training.trainer import TrainingResult, train_embedding_model, training_shape

CHECKPOINT_FILE = "checkpoint.ckpt"


@dataclass
class RunTraining:
    """The training of one run: where Ray Train keeps its checkpoints, and what it gave.

    Attributes:
        config: The run configuration.
        run_id: The run's id (the Ray Train run's name).
        result: Filled by `train`.

    """

    config: RunConfig
    run_id: str
    result: TrainingResult | None = None

    @property
    def storage_path(self) -> str:
        """Where Ray Train keeps its per-epoch checkpoints (`resources.training.storage_path`)."""
        configured = self.config.resources.training.storage_path
        return configured or os.path.join(tempfile.gettempdir(), "lightly_ray_training")

    def train(self, rows: ray.data.Dataset, state: ModelState, cluster: ClusterShape) -> ModelState:
        """Train on the materialized rows (those with `ok` set) from `state`; return the trained weights."""
        lightly = self.config.lightly_config
        ok: Any = rows.sum("ok")
        count = int(ok or 0)
        settings = self.config.resources.training
        shape = training_shape(lightly, cluster.cpus, cluster.gpus, settings.workers)
        self.result = train_embedding_model(
            lightly,
            rows,
            count,
            state,
            shape,
            self.storage_path,
            f"lightly_ray-{self.run_id}",
            max_failures=settings.max_failures,
        )
        losses = [record["loss"] for record in self.result.epochs if record.get("loss") is not None]
        if losses:
            logger.info(
                "trained in %.1f s: loss %.4f after the first epoch, %.4f after the last",
                self.result.seconds,
                losses[0],
                losses[-1],
            )
        return self.result.state

    def checkpoint_bytes(self) -> bytes:
        """The trained model as `checkpoint.ckpt`: its weights, the config and the losses."""
        assert self.result is not None
        buffer = io.BytesIO()
        torch.save(
            {
                "state_dict": {key: torch.tensor(value) for key, value in self.result.state.items()},
                "lightly_config": self.config.lightly_config.model_dump(mode="json"),
                "epochs": self.result.epochs,
            },
            buffer,
        )
        return buffer.getvalue()

    def report(self) -> dict[str, Any]:
        """report.json's `training`."""
        assert self.result is not None
        return {**self.result.report(), "checkpoint": CHECKPOINT_FILE}
