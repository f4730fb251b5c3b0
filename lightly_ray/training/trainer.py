"""Train the embedding model on the run's decoded images with Ray Train, from the driver.

`train_embedding_model` takes the run's decoded rows (a materialized Ray dataset with an
`image` column), adds the augmentation step for GPU workers (`augment.augment_views` in CPU
tasks; a CPU worker augments its own batches) and hands the result to a `TorchTrainer` whose
workers run `loop.train_loop`. It prints each epoch's loss as the
workers finish it and returns the trained weights of the embedding model, in the layout the
embedding actors load (`models.backbones.ModelState`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.data
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from lightly_ray.config.lightly import LightlyConfig
from lightly_ray.crash_points import worker_crash_epoch
from lightly_ray.errors import LightlyRayError
from lightly_ray.models.weights import ModelState
from lightly_ray.pipeline.crops import PARENT
from lightly_ray.progress import logger
from lightly_ray.training.driver_progress import TrainingProgress
from lightly_ray.training.training_rows import training_rows


@dataclass(frozen=True)
class TrainShape:
    """How training runs on the cluster.

    Attributes:
        workers: Ray Train workers (data-parallel replicas).
        use_gpu: Whether each worker holds a GPU.
        cpus_per_worker: CPUs each worker reserves.
        torch_threads: torch's threads on a CPU worker.
        augment_tasks: Augmentation tasks at once; 0: each worker augments its own batches.
        local_mode: The one worker runs in the Ray task that calls `TorchTrainer.fit()` (Ray
            Train's local mode) instead of in an actor under a Train controller: one CPU worker
            on a cluster of one node, where the actors would cost their start and their CPU and
            give nothing a retried task does not (`training_shape`).

    """

    workers: int
    use_gpu: bool
    cpus_per_worker: float
    torch_threads: int
    augment_tasks: int
    local_mode: bool = False

    def describe(self) -> str:
        """E.g. `2 GPU workers` or `1 CPU worker, 2 torch threads`."""
        kind = "GPU" if self.use_gpu else "CPU"
        text = f"{self.workers} {kind} worker{'s' if self.workers != 1 else ''}"
        if self.local_mode:
            text += " in one Ray task (Ray Train's local mode)"
        if not self.use_gpu:
            text += f", {self.torch_threads} torch thread{'s' if self.torch_threads != 1 else ''}"
        if not self.augment_tasks:
            return f"{text}; augmentation in the worker"
        return f"{text}; augmentation in up to {self.augment_tasks} CPU tasks"


def numeric_precision(lightly: LightlyConfig, use_gpu: bool) -> str:
    """What `trainer.precision` trains in on these workers (mixed precision only on GPUs)."""
    precision = lightly.trainer.precision
    if precision == 64:
        return "float64"
    if use_gpu and precision in (16, "16-mixed"):
        return "float16 mixed precision"
    if use_gpu and precision == "bf16-mixed":
        return "bfloat16 mixed precision"
    return "float32"


@dataclass
class TrainingResult:
    """What training gives the run.

    Attributes:
        state: The trained embedding model's weights (numpy, `EmbeddingModel` keys).
        epochs: One record per epoch: epoch, loss, images, seconds.
        seconds: Wall time of training, start-up included.
        shape: How it ran.
        earlier_attempt: Trained by an earlier attempt of the run, which was stopped after
            training: the epochs are that attempt's, and this one trained nothing.

    """

    state: ModelState
    epochs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    shape: TrainShape | None = None
    earlier_attempt: bool = False

    def report(self) -> dict[str, Any]:
        """report.json's `training`."""
        report = {
            "epochs": self.epochs,
            "seconds": round(self.seconds, 3),
            "workers": self.shape.workers if self.shape else 0,
            "device": "cuda" if self.shape and self.shape.use_gpu else "cpu",
        }
        return {**report, "earlierAttempt": True} if self.earlier_attempt else report


def train_embedding_model(
    lightly: LightlyConfig,
    images: ray.data.Dataset,
    rows: int,
    state: ModelState,
    shape: TrainShape,
    storage_path: str,
    name: str,
    *,
    max_failures: int = 3,
    checkpoint_every_s: float = 60.0,
    crops: bool = False,
) -> TrainingResult:
    """Train the embedding model self-supervised (SimCLR) on `images`.

    Args:
        lightly: `lightly_config`.
        images: The run's decoded rows (column `image`, uint8 (size, size, 3); `ok` when some
            may have failed to decode, `parent` when the run cuts object crops).
        rows: How many of them training uses (`augment.training_rows`).
        state: The starting weights (`models.backbones.build_state`).
        shape: Workers and resources (`training_shape`).
        storage_path: Where Ray Train (in local mode the loop) keeps the checkpoints (a folder
            all workers reach).
        name: The Ray Train run's name under `storage_path`; a run of the same name resumes
            from its last checkpoint.
        max_failures: Worker-group failures to recover from (from the last checkpoint); in local
            mode, retries of the training task.
        checkpoint_every_s: Seconds of training between checkpoints (0: after every epoch).
        crops: Train on the object crops among the rows (`parent` set) instead of the images.

    Returns:
        The trained weights and the loss of every epoch.

    Raises:
        LightlyRayError: When there are fewer than two images, or training fails.

    """
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Queue

    from lightly_ray.training.augment import augment_views  # torch: only once training runs
    from lightly_ray.training.loop import LoopSettings, train_loop

    if rows < 2 * shape.workers:
        what = "object crops" if crops else "images that decode"
        raise LightlyRayError(
            f"training needs at least two {what} for each of its {shape.workers} workers; this run has {rows}"
        )
    began = time.monotonic()
    # Every epoch reads the blocks in a new order (materialized rows: a reordering, no copy).
    ordered = images.randomize_block_order() if lightly.loader.shuffle else images
    augment: Any = augment_views
    crops_in_worker = False  # the rows a worker reads are already the ones trained on
    if shape.augment_tasks:  # GPU workers: CPU tasks make the views, keeping the rows trained on
        views = ordered.select_columns(_image_columns(images)).map_batches(
            augment,
            fn_kwargs={"collate": lightly.collate, "crops": crops},
            batch_size=max(16, min(lightly.loader.batch_size, 256)),
            num_cpus=1,
            compute=ray.data.TaskPoolStrategy(size=shape.augment_tasks),
        )
    elif images.count() != rows:
        # A worker that augments reads the rows as they are, except when some are not trained on
        # (not decoded; images beside crops): those leave before the rows are split between the
        # workers, so that every worker has as many batches. What is left is of one kind.
        keep: Any = _training_images
        views = ordered.map_batches(
            keep,
            fn_kwargs={"crops": crops},
            batch_size=None,
            num_cpus=0,  # a copy of the kept rows: nothing to reserve a CPU for beside the workers
            compute=ray.data.TaskPoolStrategy(size=1),
        )
    else:  # every row is trained on: no task runs per epoch
        views, crops_in_worker = ordered, crops
    progress = Queue(actor_options={"num_cpus": 0})
    settings = LoopSettings(
        lightly=lightly,
        state_ref=[ray.put(state)],
        rows=rows,
        torch_threads=shape.torch_threads,
        progress=progress,
        crash_after_epoch=worker_crash_epoch(),
        augment_here=shape.augment_tasks == 0,
        checkpoint_every_s=checkpoint_every_s,
        crops=crops_in_worker,
        own_checkpoints=(storage_path, name) if shape.local_mode else None,
    )
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"settings": settings},
        scaling_config=ScalingConfig(
            num_workers=0 if shape.local_mode else shape.workers,
            use_gpu=shape.use_gpu,
            resources_per_worker={"CPU": shape.cpus_per_worker, **({"GPU": 1} if shape.use_gpu else {})},
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage_path,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
        datasets={"train": views},
        # One worker reads the rows as they are: no split, so no coordinator actor between them.
        dataset_config=DataConfig(datasets_to_split="all" if shape.workers > 1 else []),
    )
    per_worker = rows // shape.workers
    if lightly.loader.batch_size > per_worker:
        logger.warning(
            "lightly_config.loader.batch_size %d is more than the %d images each of the %d training "
            "workers has: it trains on batches of %d",
            lightly.loader.batch_size,
            per_worker,
            shape.workers,
            max(1, per_worker),
        )
    logger.info(
        "training %s for %d epoch%s on %d images in %s: %s",
        lightly.model.name,
        lightly.trainer.max_epochs,
        "" if lightly.trainer.max_epochs == 1 else "s",
        rows,
        numeric_precision(lightly, shape.use_gpu),
        shape.describe(),
    )
    # fit() runs in a task of its own on this node, not in a thread of this process: a thread
    # inside Ray's calls when an interruption shuts Ray down ends the process at once (exit 1,
    # no log, the dataset's lock left). Cancelling the task ends its Train controller (which
    # the task owns) and with it the workers. In local mode the task is the worker: it holds the
    # worker's CPU, and Ray runs it again from the last checkpoint after an error or when its
    # process died, as often as Ray Train restarts a worker group.
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    if shape.local_mode:
        task = _train_here.options(
            scheduling_strategy=here, num_cpus=shape.cpus_per_worker, max_retries=max_failures
        )
    else:
        task = _fit_here.options(scheduling_strategy=here)
    fitting = task.remote(trainer, os.environ.get(POLL_VARIABLE) or POLL_SECONDS)
    shown = TrainingProgress(lightly.trainer.max_epochs, rows)
    finished = False
    try:
        while True:
            done = bool(ray.wait([fitting], timeout=0)[0])
            shown.drain(progress)
            if done and progress.empty():
                break
        finished = True
    finally:
        shown.close()
        if not finished:
            ray.cancel(fitting, force=True)
        progress.shutdown()
    try:
        result = ray.get(fitting)
    except ray.exceptions.RayError as error:  # what fit() raised, or its task's process lost
        cause = error.cause if isinstance(error, ray.exceptions.RayTaskError) and error.cause else error
        raise LightlyRayError(f"training failed: {cause}") from cause
    if shown.weights is None:
        raise LightlyRayError("training finished without handing back its weights")
    losses = result.metrics or {}  # the last report: every epoch's loss, resumed ones too
    return TrainingResult(
        state=shown.weights,
        epochs=_complete(shown.epochs, losses),
        seconds=time.monotonic() - began,
        shape=shape,
    )


def _training_images(batch: dict[str, Any], crops: bool) -> dict[str, Any]:
    """The images of a block that training uses (`augment.training_rows`)."""
    return {"image": batch["image"][training_rows(batch, crops)]}


def _image_columns(images: ray.data.Dataset) -> list[str]:
    return [column for column in ("image", "ok", PARENT) if column in images.columns()]


def _fit(trainer: Any, poll_seconds: str) -> Any:
    """`trainer.fit()`, in a task on the driver's node (the controller starts on the caller's node)."""
    os.environ[POLL_VARIABLE] = poll_seconds  # handed on to the controller by fit()
    return trainer.fit()


_fit_here = ray.remote(num_cpus=0, max_retries=0)(_fit)
# Local mode: the task trains. Its process ends with it (max_calls=1), with the training's memory,
# torch's threads and Ray Train's state, rather than going back to Ray's pool of workers.
_train_here = ray.remote(max_calls=1, retry_exceptions=True)(_fit)


# Ray Train's controller polls its workers this often (Ray's default: 2 s). A worker holds one
# report at a time, so a slow poll delays every epoch's report and the end of training. A value
# the user set in the driver's environment is kept.
POLL_VARIABLE = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
POLL_SECONDS = "0.25"


def _complete(records: list[dict[str, Any]], last: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per epoch: those logged here, and the loss alone of epochs an earlier attempt ran."""
    by_epoch = {int(record["epoch"]): record for record in records}
    losses = list(last.get("losses", []))
    count = max([*by_epoch, len(losses)], default=0)
    return [
        by_epoch.get(epoch, {"epoch": epoch, "loss": losses[epoch - 1] if epoch <= len(losses) else None})
        for epoch in range(1, count + 1)
    ]


@dataclass(frozen=True)
class NodeShape:
    """One node's CPUs and GPUs."""

    cpus: int
    gpus: int


def cluster_nodes() -> list[NodeShape]:
    """The CPUs and GPUs of every node of the connected Ray cluster that is up."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return [
        NodeShape(int(node["Resources"].get("CPU", 0)), int(node["Resources"].get("GPU", 0)))
        for node in nodes
        if node.get("Alive")
    ]


def training_shape(
    lightly: LightlyConfig,
    nodes: list[NodeShape],
    workers: int | None = None,
    torch_threads: int | None = None,
) -> TrainShape:
    """Workers and resources of training on a cluster of `nodes`.

    With GPUs: one worker per GPU, at most `trainer.gpus` on each node (the Lightly Worker's
    "GPUs to use"), each reserving one CPU; the other CPUs augment. Without GPUs (or with
    `trainer.gpus: 0`): one CPU worker, since data parallelism over CPUs gains nothing over
    torch's own threads, with a torch thread per CPU of the largest node, which augments its
    batches itself: augmentation tasks beside it would take cores from its threads (measured
    on 2 CPUs: 197 img/s with a task beside two threads, 135 with one thread, against 242-252
    for one process doing both, `bench/training.py`). `workers` and `torch_threads`
    (`resources.training`) override.

    One CPU worker on a cluster of one node runs in Ray Train's local mode: Train's controller
    and worker actors cost 13-20 s of start and a few percent of every epoch on a small node
    (docs/training.md), and there is no other node to place or restart them on.
    """
    cpus = sum(node.cpus for node in nodes) or 1
    per_node_gpus = [min(node.gpus, lightly.trainer.gpus) for node in nodes]
    if sum(per_node_gpus) > 0:
        count = workers or sum(per_node_gpus)
        return TrainShape(count, True, 1.0, torch_threads or 1, max(1, cpus - count))
    count = workers or 1
    largest = max((node.cpus for node in nodes), default=1)
    return TrainShape(count, False, 1.0, torch_threads or max(1, largest), 0, count == 1 and len(nodes) == 1)
