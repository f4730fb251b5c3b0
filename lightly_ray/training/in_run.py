"""Training inside a run (`worker_config.enable_training`): on the run's decoded rows, before embedding.

The pipeline (`pipeline.build.build_image_pipeline`) materializes the rows its steps before
embedding make and calls `RunTraining.train` with them; the embedding actors then embed the
same rows with the trained weights. The run writes the trained model to its folder as
`checkpoint.ckpt` (lightly_ray's checkpoint layout, `models.checkpoint`, with the
`lightly_config` that trained it and each epoch's loss), which a later run uses with
`worker_config.checkpoint: .lightly/runs/<run id>/checkpoint.ckpt`.

Ray Train keeps its checkpoints (one every `resources.training.checkpoint_every_s`; in Ray
Train's local mode the training loop keeps its own, `loop.py`) under a name derived from the
work (`training_key`), so a run killed while training resumes from its last checkpoint when
run again; they are removed once training finished (from a local storage path).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import ray.data

from lightly_ray.config import RunConfig
from lightly_ray.errors import ConfigError, LightlyRayError
from lightly_ray.models.weights import ModelState
from lightly_ray.outputs.run_folder import RunFolder
from lightly_ray.pipeline.crops import PARENT
from lightly_ray.progress import logger
from lightly_ray.selection.placement import alive_nodes
from lightly_ray.storage import Location
from lightly_ray.training.trainer import (
    TrainingResult,
    cluster_nodes,
    train_embedding_model,
    training_shape,
)
from lightly_ray.training.training_rows import training_rows

CHECKPOINT_FILE = "checkpoint.ckpt"
# Beside Ray Train's folder of a training (`RunTraining.name`): its model, from the end of training
# to the end of the run.
KEPT_SUFFIX = "-trained.ckpt"


NAME_SLICE = 1_000_000  # names hashed per slice of the listing


def training_key(config: RunConfig, input_url: str, listing: pa.Table) -> str:
    """What names a run's training in Ray Train's storage: the same for a rerun of the same work.

    A digest of the input location, the files (names, sizes, modification times), the
    `lightly_config`, the starting checkpoint and what is trained on (`worker_config.training`,
    and the crops of `worker_config.object_level`): a run killed during training and run again
    on the same input with the same config finds its last checkpoint under this name.
    """
    digest = hashlib.sha256()
    worker = config.worker_config
    settings = {
        "input": input_url,
        "lightly_config": config.lightly_config.model_dump(mode="json"),
        "checkpoint": worker.checkpoint,
        "training": worker.training.model_dump(mode="json"),
        "object_level": worker.object_level.model_dump(mode="json", include={"task_name", "padding"}),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for column in ("name", "size", "mtime_ns"):
        if column not in listing.column_names:
            continue
        for start in range(0, listing.num_rows, NAME_SLICE):
            values = listing.column(column).slice(start, NAME_SLICE).to_pylist()
            digest.update("\n".join(str(value) for value in values).encode())
    return digest.hexdigest()[:20]


def check_training_storage(config: RunConfig, nodes: int) -> None:
    """Stop before any work when Ray Train's checkpoints would land on each node's own disk.

    Args:
        config: The run configuration.
        nodes: Nodes of the cluster that are up.

    Raises:
        ConfigError: On a cluster of several nodes without `resources.training.storage_path`.
    """
    if nodes > 1 and config.resources.training.storage_path is None:
        raise ConfigError(
            [
                f"resources.training.storage_path: the cluster has {nodes} nodes, and Ray "
                "Train's checkpoints must be in a folder every node reaches (NFS, s3://..., "
                "gs://...); set it, e.g. resources.training.storage_path=s3://bucket/ray-train"
            ]
        )


@dataclass
class RunTraining:
    """The training of one run: where Ray Train keeps its checkpoints, and what it gave.

    Attributes:
        config: The run configuration.
        key: Names the training in Ray Train's storage (`training_key`).
        result: Filled by `train`.

    """

    config: RunConfig
    key: str
    result: TrainingResult | None = None

    @property
    def storage_path(self) -> str:
        """Where Ray Train keeps its checkpoints (`resources.training.storage_path`)."""
        configured = self.config.resources.training.storage_path
        return configured or os.path.join(tempfile.gettempdir(), "lightly_ray_training")

    def train(self, rows: ray.data.Dataset, state: ModelState) -> ModelState:
        """Train on the materialized rows from `state`; return the trained weights.

        The rows that decoded, images, or the object crops with `worker_config.training.task_name`.
        """
        lightly = self.config.lightly_config
        crops = self.config.worker_config.training.task_name is not None
        kept = self._kept_model()
        if kept is not None:
            self.result = kept
            last = kept.epochs[-1].get("loss") if kept.epochs else None
            logger.info(
                "training: an earlier attempt of this run finished it (%d epochs, loss %.4f after the "
                "last); its model is used, not trained again",
                len(kept.epochs),
                math.nan if last is None else last,
            )
            return kept.state
        columns = [column for column in ("ok", PARENT) if column in rows.columns()]
        count = sum(
            int(training_rows(batch, crops).sum())
            for batch in rows.select_columns(columns).iter_batches(batch_size=None, batch_format="numpy")
        )
        settings = self.config.resources.training
        shape = training_shape(lightly, cluster_nodes(), settings.workers, settings.torch_threads)
        self.result = train_embedding_model(
            lightly,
            rows,
            count,
            state,
            shape,
            self.storage_path,
            self.name,
            max_failures=settings.max_failures,
            checkpoint_every_s=settings.checkpoint_every_s,
            crops=crops,
        )
        self._keep_model()
        self._forget_checkpoints()
        losses = [record["loss"] for record in self.result.epochs if record.get("loss") is not None]
        if losses:
            logger.info(
                "trained in %.1f s: loss %.4f after the first epoch, %.4f after the last",
                self.result.seconds,
                losses[0],
                losses[-1],
            )
        return self.result.state

    @classmethod
    def of(cls, config: RunConfig, input_url: str, listing: pa.Table) -> RunTraining | None:
        """The run's training (None without `enable_training` or epochs), its storage checked.

        Raises:
            ConfigError: On a cluster of several nodes without `resources.training.storage_path`.
        """
        if not config.worker_config.enable_training:
            return None
        if config.lightly_config.trainer.max_epochs == 0:
            logger.warning(
                "worker_config.enable_training with lightly_config.trainer.max_epochs 0: nothing is "
                "trained and no checkpoint is written; the model embeds with its %s",
                config.worker_config.checkpoint or f"{config.lightly_config.model.weights} weights",
            )
            return None
        check_training_storage(config, alive_nodes())
        return cls(config, training_key(config, input_url, listing))

    def write(self, folder: RunFolder) -> None:
        """Write the trained model to the run folder (`checkpoint.ckpt`), once it trained."""
        if self.result is not None:
            folder.write_bytes(CHECKPOINT_FILE, self.checkpoint_bytes())

    @property
    def name(self) -> str:
        """The Ray Train run's name under the storage path."""
        return f"lightly_ray-{self.key}"

    @property
    def _kept_path(self) -> tuple[Location, str]:
        """Where the trained model waits for the end of the run: beside Ray Train's checkpoints."""
        return Location(self.storage_path, writable=True), f"{self.name}{KEPT_SUFFIX}"

    def _keep_model(self) -> None:
        """Keep the trained model until the run succeeds: a rerun of a run stopped later uses it."""
        location, path = self._kept_path
        location.write_bytes(path, self.checkpoint_bytes())

    def _kept_model(self) -> TrainingResult | None:
        """The model an earlier attempt of this run trained to the end, if it was kept."""
        import torch

        location, path = self._kept_path
        try:
            data = location.read_bytes(path)
        except FileNotFoundError:
            return None
        try:
            saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            state = {key: value.numpy() for key, value in saved["state_dict"].items()}
            epochs = list(saved["epochs"])
        except Exception as error:  # noqa: BLE001 - a file cut short by a crash: train again
            logger.warning(
                "training: the model an earlier attempt kept in %s cannot be read (%s); training again",
                location.url,
                error,
            )
            return None
        return TrainingResult(state=state, epochs=epochs, earlier_attempt=True)

    def forget(self) -> None:
        """Remove the kept model once the run succeeded (its checkpoint.ckpt holds it); never raises."""
        if self.result is None:
            return
        location, path = self._kept_path
        try:
            location.delete(path)
        except (LightlyRayError, OSError) as error:
            logger.warning("training: the model kept in %s is not removed: %s", location.url, error)

    def _forget_checkpoints(self) -> None:
        """Remove the checkpoints of a finished training, Ray Train's or the loop's (local storage only)."""
        if "://" in self.storage_path:
            return
        shutil.rmtree(os.path.join(self.storage_path, self.name), ignore_errors=True)

    def checkpoint_bytes(self) -> bytes:
        """The trained model as `checkpoint.ckpt`: its weights, the config and the losses."""
        import torch

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
        """report.json's `training` block (nothing before training ran)."""
        if self.result is None:
            return {}
        return {"training": {**self.result.report(), "checkpoint": CHECKPOINT_FILE}}
