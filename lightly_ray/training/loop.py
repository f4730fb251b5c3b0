"""What every Ray Train worker runs: SimCLR epochs over its shard of the augmented views.

Data-parallel: Ray Train starts one worker per GPU (or CPU workers without GPUs), wraps the
network in DistributedDataParallel and gives each worker its share of every epoch's views
(`ray.train.get_dataset_shard`). The loss is lightly's NT-Xent (`lightly.loss.NTXentLoss`),
which gathers the projections of all workers, so every image is contrasted with the whole
global batch, as on one device. The optimizer is SGD with `optimizer.lr` and
`optimizer.weight_decay`, as the Lightly Worker's training, or AdamW (`optimizer.name`).

Every `PROGRESS_EVERY_S` the rank-0 worker says how far the epoch got (the driver's bar).
After every epoch the workers report the loss to Ray Train, and the rank-0 worker a
checkpoint (network, optimizer, epoch, losses so far) after the first epoch that ends
`resources.training.checkpoint_every_s` after the previous checkpoint (or the start), uploaded
while the next epoch trains (Ray Train registers reports in the order they were made); the
trained weights reach the driver through the progress queue. A worker group that failed
restarts from the last registered checkpoint (`FailureConfig`), and `ray.train.get_checkpoint`
hands it to the new workers.

In Ray Train's local mode (one CPU worker on one node, `trainer.TrainShape.local_mode`) Ray Train
keeps no checkpoint: the loop writes its own, `<storage path>/<name>/train_state.pt`, replaced
at once (atomically), and starts from it when there is one, after a retry of its task or a
rerun of the run.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
import ray.train
import torch

from lightly_ray.config.lightly import LightlyConfig
from lightly_ray.crash_points import kill_this_process
from lightly_ray.models.backbones import shared_tensors
from lightly_ray.training.augment import augment_views

STATE_FILE = "train_state.pt"
SHUFFLE_BATCHES = 4  # local shuffle buffer, in batches
PROGRESS_EVERY_S = 2.0  # how far the epoch got, for the driver's bar (`driver_progress`)
LOCAL_MODE_LOGGER = "ray.train.v2._internal.execution.train_fn_utils"

# What a checkpoint saves of a training: the network, its optimizer and its gradient scaler.
Trained = tuple[torch.nn.Module, torch.optim.Optimizer, torch.amp.GradScaler]


@dataclass(frozen=True)
class LoopSettings:
    """What a training worker needs besides the data: the config, its weights and threads.

    Attributes:
        lightly: `lightly_config` (model, loader, trainer, criterion, optimizer, seed).
        state_ref: One-element list with the ObjectRef of the starting weights of the
            embedding model (`models.backbones.build_state`).
        rows: Images in an epoch (the batch is at most rows / workers).
        torch_threads: torch's threads on a CPU worker.
        progress: A `ray.util.queue.Queue` the rank-0 worker puts how far each epoch got in,
            each epoch's record, and at the end the trained weights of the embedding model
            (`{"weights": ...}`): `driver_progress.TrainingProgress` shows them.
        augment_here: The worker makes the views itself from the images (a CPU worker, which
            shares its CPUs with nothing), instead of reading views the Ray Data tasks made.
        checkpoint_every_s: A checkpoint after the first epoch that ends at least this long
            after the last checkpoint (or the start); 0: after every epoch.
        crops: Train on the object crops among the rows instead of the images.
        crash_after_epoch: Tests only: the rank-0 worker of an attempt that started without a
            checkpoint kills itself after reporting this epoch (`crash_points`, `training-worker`).
        own_checkpoints: In local mode, the storage path and name the loop keeps its checkpoint
            under itself (Ray Train keeps none there); None: Ray Train keeps them.

    """

    lightly: LightlyConfig
    state_ref: list[Any]
    rows: int
    torch_threads: int = 1
    progress: Any = None
    crash_after_epoch: int | None = None
    augment_here: bool = False
    checkpoint_every_s: float = 0.0
    crops: bool = False
    own_checkpoints: tuple[str, str] | None = None


def train_loop(loop_config: dict[str, Any]) -> None:
    """Train for `trainer.max_epochs` epochs from the last checkpoint, if any (`TorchTrainer`'s function)."""
    import ray.train.torch
    from lightly.loss import NTXentLoss

    from lightly_ray.training.network import SimCLRNetwork, embedding_state

    settings: LoopSettings = loop_config["settings"]
    lightly = settings.lightly
    if settings.own_checkpoints is not None:  # local mode logs every report's metrics, losses and all
        logging.getLogger(LOCAL_MODE_LOGGER).setLevel(logging.WARNING)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(settings.torch_threads)
        normal_priority()
    torch.manual_seed(lightly.seed + rank)
    network = SimCLRNetwork(lightly.model).to(parameter_dtype(lightly))
    start_state = ray.get(settings.state_ref[0])
    network.embedding.load_state_dict(shared_tensors(start_state))  # copied into the parameters
    optimizer_state, scaler_state, start, losses = None, None, 0, []
    saved = _last_checkpoint(settings)
    if saved is not None:
        network.load_state_dict(saved["network"])
        optimizer_state, scaler_state = saved["optimizer"], saved.get("scaler") or None
        start, losses = int(saved["epoch"]) + 1, list(saved["losses"])
        if settings.own_checkpoints is not None:  # fit()'s result: the losses even with no epoch left
            ray.train.report({"losses": list(losses)})
    if rank == 0 and settings.progress is not None:
        settings.progress.put({"start": start + 1})  # the driver says when an attempt starts again
    model = ray.train.torch.prepare_model(network)
    optimizer = make_optimizer(lightly, model)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    criterion = NTXentLoss(temperature=lightly.criterion.temperature, gather_distributed=world > 1)
    autocast = autocast_dtype(lightly, device)
    scaler = torch.amp.GradScaler("cuda", enabled=autocast == torch.float16)
    if scaler_state is not None:
        scaler.load_state_dict(scaler_state)
    batch_size = max(1, min(lightly.loader.batch_size, settings.rows // world))
    shard = ray.train.get_dataset_shard("train")
    saved_at, uploading = time.monotonic(), False
    for epoch in range(start, lightly.trainer.max_epochs):
        began, total, batches, images = time.monotonic(), torch.zeros((), device=device), 0, 0
        next_progress = began + PROGRESS_EVERY_S
        model.train()
        for views in _epoch_views(settings, shard, batch_size, epoch, rank, device):
            if len(views) < 4:  # NT-Xent needs two images to contrast (a last batch of one)
                continue
            dtype = autocast or torch.float32
            with torch.autocast(device_type=device.type, dtype=dtype, enabled=autocast is not None):
                projections = model(views)
            half = len(views) // 2
            if autocast is not None:
                projections = projections.float()  # the loss in float32
            loss = criterion(projections[:half], projections[half:])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach()
            batches += 1
            images += half
            if rank == 0 and settings.progress is not None and time.monotonic() >= next_progress:
                settings.progress.put({"epoch": epoch + 1, "seen": images * world})  # about: rank 0's
                next_progress = time.monotonic() + PROGRESS_EVERY_S
        trained = (model, optimizer, scaler)
        now = time.monotonic()
        save = now - saved_at >= settings.checkpoint_every_s
        saved_at = now if save else saved_at
        if rank == 0 and uploading and settings.own_checkpoints is None:
            _wait_for_upload()  # the last checkpoint is registered before this epoch is announced
        _report_epoch(settings, trained, save, epoch, total, batches, images, began, losses, rank, world)
        uploading = save
        if rank == 0 and saved is None and settings.crash_after_epoch == epoch + 1:
            kill_this_process()  # only in an attempt that started afresh: a resumed one goes on
    if rank == 0 and settings.progress is not None:
        # The weights go back through the queue, not Ray Train's storage: the driver gets them
        # whether or not the storage is shared with its node.
        # In float32 also after float64 training: the precision the embedding model runs at.
        arrays = {key: _as_float32(value).numpy() for key, value in embedding_state(model).items()}
        settings.progress.put({"weights": arrays})


def _report_epoch(
    settings: LoopSettings,
    trained: Trained,
    save: bool,
    epoch: int,
    total: torch.Tensor,
    batches: int,
    images: int,
    began: float,
    losses: list[float],
    rank: int,
    world: int,
) -> None:
    counts = torch.tensor([float(batches), float(images)], device=total.device)
    summed = total.detach().clone()
    if world > 1:
        torch.distributed.all_reduce(summed)
        torch.distributed.all_reduce(counts)
    batches_all, images_all = int(counts[0].item()), int(counts[1].item())
    if batches_all == 0:
        raise RuntimeError(
            f"training epoch {epoch + 1} had no batch: {settings.rows} images on {world} workers with "
            f"lightly_config.loader.batch_size {settings.lightly.loader.batch_size} and drop_last"
        )
    loss = float(summed.item()) / batches_all
    losses.append(loss)
    seconds = time.monotonic() - began
    record = {"epoch": epoch + 1, "loss": loss, "images": images_all, "seconds": seconds}
    metrics = {**record, "losses": list(losses)}
    if rank != 0 or not save:
        ray.train.report(metrics)
    elif settings.own_checkpoints is not None:
        _write_own_checkpoint(settings.own_checkpoints, _training_state(trained, epoch, losses))
        ray.train.report(metrics)
    else:
        _report_with_checkpoint(metrics, trained, epoch, losses)
    # Announced after the report, and after the checkpoint before it was registered
    # (`_wait_for_upload`): a driver that dies once it logged epoch n finds in Ray Train's
    # storage the last checkpoint taken before epoch n.
    if rank == 0 and settings.progress is not None:
        settings.progress.put(record)


def _wait_for_upload() -> None:
    """Block until Ray Train registered every report of this worker (the checkpoint uploaded).

    Called once, an epoch after the one whose checkpoint went up in the background: by then
    the upload (the network and optimizer state, 135 MB for a ResNet-18 with AdamW) is
    usually done, and the call costs a round trip to Ray Train's controller.
    """
    from ray.train import CheckpointConsistencyMode

    ray.train.get_all_reported_checkpoints(consistency_mode=CheckpointConsistencyMode.COMMITTED)


def _report_with_checkpoint(
    metrics: dict[str, Any],
    trained: Trained,
    epoch: int,
    losses: list[float],
) -> None:
    from ray.train import CheckpointUploadMode

    folder = tempfile.mkdtemp(prefix="lightly_ray-checkpoint-")
    torch.save(_training_state(trained, epoch, losses), os.path.join(folder, STATE_FILE))
    # Copied to the storage path in the background while the next epoch trains, then removed
    # (a worker killed before that leaves it in the temporary folder, like any crashed process).
    ray.train.report(
        metrics,
        checkpoint=ray.train.Checkpoint.from_directory(folder),
        checkpoint_upload_mode=CheckpointUploadMode.ASYNC,
        delete_local_checkpoint_after_upload=True,
    )


def _training_state(trained: Trained, epoch: int, losses: list[float]) -> dict[str, Any]:
    """What a checkpoint holds: network, optimizer and scaler state, the epoch and the losses so far."""
    model, optimizer, scaler = trained
    inner: torch.nn.Module = getattr(model, "module", model)
    return {
        "network": inner.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": epoch,
        "losses": losses,
    }


def _write_own_checkpoint(where: tuple[str, str], state: dict[str, Any]) -> None:
    """Replace the local-mode checkpoint at once: a process killed meanwhile leaves the last one whole."""
    from lightly_ray.storage import Location

    storage_path, name = where
    with Location(storage_path, writable=True).open_atomic_output(f"{name}/{STATE_FILE}") as stream:
        torch.save(state, stream)


def _last_checkpoint(settings: LoopSettings) -> dict[str, Any] | None:
    """The state of the last checkpoint of this training (Ray Train's, or in local mode the loop's own).

    The loop's own checkpoint, when it cannot be read (cut short on a store without atomic
    writes, or written by another version), is reported to the driver and trained over (local
    mode has one worker: it is rank 0).
    """
    if settings.own_checkpoints is not None:
        from lightly_ray.storage import Location

        storage_path, name = settings.own_checkpoints
        location = Location(storage_path, writable=False)
        try:
            data = location.read_bytes(f"{name}/{STATE_FILE}")
        except FileNotFoundError:
            return None
        try:
            return dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
        except Exception as error:  # noqa: BLE001 - any unreadable file: train from the start
            if settings.progress is not None:
                settings.progress.put(
                    {
                        "warning": f"training: the checkpoint {location.url}/{name}/{STATE_FILE} cannot "
                        f"be read ({error}); training from the start"
                    }
                )
            return None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return dict(torch.load(os.path.join(folder, STATE_FILE), map_location="cpu", weights_only=True))


def _epoch_views(
    settings: LoopSettings, shard: Any, batch_size: int, epoch: int, rank: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """Each batch's two views, stacked (uint8, on the device): read, or made here from the images."""
    loader = settings.lightly.loader
    shuffle = {
        "local_shuffle_buffer_size": batch_size * SHUFFLE_BATCHES if loader.shuffle else None,
        "local_shuffle_seed": settings.lightly.seed + epoch * 1000 + rank if loader.shuffle else None,
    }
    if not settings.augment_here:
        for batch in shard.iter_torch_batches(
            batch_size=batch_size, drop_last=loader.drop_last, device=str(device), **shuffle
        ):
            yield torch.cat([batch["view0"], batch["view1"]])
        return
    for batch in shard.iter_batches(
        batch_size=batch_size, drop_last=loader.drop_last, batch_format="numpy", **shuffle
    ):
        views = augment_views(batch, settings.lightly.collate, settings.crops)
        pixels = np.concatenate([views["view0"], views["view1"]])
        yield torch.from_numpy(pixels).to(device)


def normal_priority() -> bool:
    """Put every thread of this process back at nice 0 where Ray started it lower; True if it did.

    Ray starts its worker processes at nice 15, below the raylet, the GCS, the driver and Ray's
    agents. On a node whose cores torch's threads fill, each wake-up of those then preempts one
    torch thread and stalls the others at their next barrier: a CPU training worker at nice 15
    trained 12-17% slower than the same loop in a plain process, at nice 0 as fast
    (docs/training.md). Threads started later (torch's, Ray Data's) take the nice value of the
    thread that starts them. Lowering a nice value needs CAP_SYS_NICE (root on a host or VM;
    Docker leaves it out by default) or an RLIMIT_NICE of 20: without, nothing changes.
    """
    try:
        threads = [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:  # no /proc (macOS): the process
        threads = [0]
    changed = False
    for thread in threads:
        try:
            if os.getpriority(os.PRIO_PROCESS, thread) > 0:
                os.setpriority(os.PRIO_PROCESS, thread, 0)
                changed = True
        except OSError:  # not allowed, or the thread ended meanwhile
            continue
    return changed


def make_optimizer(lightly: LightlyConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """`optimizer.name`: plain SGD (the Lightly Worker's) or AdamW, with `lr` and `weight_decay`."""
    settings = lightly.optimizer
    if settings.name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)


def parameter_dtype(lightly: LightlyConfig) -> torch.dtype:
    """The dtype of the network's weights in training: float64 for `trainer.precision: 64`, else float32."""
    return torch.float64 if lightly.trainer.precision == 64 else torch.float32


def _as_float32(value: torch.Tensor) -> torch.Tensor:
    return value.float() if value.dtype == torch.float64 else value


def autocast_dtype(lightly: LightlyConfig, device: torch.device) -> torch.dtype | None:
    """The dtype `trainer.precision` autocasts to on a GPU, None for float32 (and on CPUs).

    16 or "16-mixed" is float16 (with a gradient scaler), "bf16-mixed" bfloat16.
    """
    if device.type != "cuda":
        return None
    return {16: torch.float16, "16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}.get(
        lightly.trainer.precision
    )
