"""What the driver shows of a training from the workers' queue (training/driver_progress.py)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from ray.util.queue import Empty

from lightly_ray import progress
from lightly_ray.progress import captured_run_log
from lightly_ray.training.driver_progress import TrainingProgress


class _Queue:
    """The calls of `ray.util.queue.Queue` that `TrainingProgress.drain` makes, on a list."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def get(self, timeout: float) -> dict[str, Any]:
        return self.get_nowait()

    def get_nowait(self) -> dict[str, Any]:
        if not self.items:
            raise Empty
        return self.items.pop(0)


def _epoch(epoch: int, loss: float) -> dict[str, Any]:
    return {"epoch": epoch, "loss": loss, "images": 96, "seconds": 2.0}


def _shown(items: list[dict[str, Any]], max_epochs: int = 3) -> tuple[TrainingProgress, list[str], str]:
    console = io.StringIO()  # not a terminal: progress as lines
    with pytest.MonkeyPatch.context() as patch, captured_run_log(show_progress=True) as log:
        patch.setattr(progress._Console, "stream", console)
        patch.setattr(progress.ProgressLines, "__init__", _every_update(progress.ProgressLines.__init__))
        shown = TrainingProgress(max_epochs, 100)
        shown.drain(_Queue(items))
        shown.close()
    lines = [re.split(r" (?:INFO|WARNING) ", line, maxsplit=1)[1] for line in log.lines]
    return shown, lines, console.getvalue()


def _every_update(init: Any) -> Any:
    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.interval_s = 0.0

    return patched


def test_the_bar_runs_over_every_epoch_s_images_and_each_epoch_is_a_line() -> None:
    items = [
        {"epoch": 1, "seen": 40},
        _epoch(1, 4.5),
        {"epoch": 2, "seen": 64},
        {"epoch": 2, "seen": 128},  # rank 0's count times the workers: at most an epoch
        _epoch(2, 4.2),
        {"weights": {"w": 1}},
    ]
    shown, lines, console = _shown(items)
    assert [line.split(",")[0].split(" in ")[0] for line in lines] == [
        "training: 40/300 img (13%)",
        "training: 100/300 img (33%)",  # the epoch's end: a whole epoch on the bar
        "training epoch 1/3: loss 4.5000 (96 images",
        "training: 164/300 img (55%)",
        "training: 200/300 img (67%)",
        "training epoch 2/3: loss 4.2000 (96 images",
        "training: 200/300 img (67%)",  # the last line, at close: how long it took
    ]
    assert lines[2] == "training epoch 1/3: loss 4.5000 (96 images, 2.0 s, 48.0 img/s)"
    assert " in " in lines[-1]
    assert shown.weights == {"w": 1} and [record["epoch"] for record in shown.epochs] == [1, 2]
    assert "[lightly-ray] training: 40/300 img (13%)" in console


def test_a_resumed_training_says_so_first_and_counts_the_epochs_it_trains() -> None:
    shown, lines, _ = _shown([{"epoch": 3, "seen": 50}, _epoch(3, 4.0), _epoch(4, 3.9)], max_epochs=4)
    assert lines[0].startswith("training resumed from a checkpoint: epochs 1-2 ran in an earlier attempt")
    assert lines[1].startswith("training: 50/200 img (25%)")
    assert lines[-1].startswith("training: 200/200 img (100%) in ")
    assert shown.weights is None


def test_a_restart_after_a_lost_process_is_a_warning_naming_where_it_resumes() -> None:
    items = [
        {"start": 1},
        _epoch(1, 4.5),
        {"start": 1},  # lost before any checkpoint
        _epoch(1, 4.4),
        _epoch(2, 4.2),
        {"start": 3},  # lost after epoch 2's checkpoint
        {"warning": "training: the checkpoint x cannot be read"},
        _epoch(3, 4.0),
    ]
    shown, lines, _ = _shown(items, max_epochs=3)
    restarts = [line for line in lines if line.startswith("training restarted")]
    assert restarts == [
        "training restarted at epoch 1 after a training process was lost (attempt 2): from the start, "
        "no checkpoint was taken yet",
        "training restarted at epoch 3 after a training process was lost (attempt 3): from the "
        "checkpoint of epoch 2",
    ]
    assert "training: the checkpoint x cannot be read" in lines
    assert [record["epoch"] for record in shown.epochs] == [1, 1, 2, 3]
