"""What the driver shows of a training while Ray Train runs it.

The rank-0 worker puts these items in the progress queue (`loop.train_loop`): the first epoch
of each attempt (`{"start"}`: a second one is a restart after a lost process); how far the
current epoch got, every `loop.PROGRESS_EVERY_S` (`{"epoch", "seen"}`); each finished epoch
(`{"epoch", "loss", "images", "seconds"}`); a warning to log (`{"warning"}`); and at the end the
trained weights (`{"weights"}`). Here they become a bar over all the epochs' images, with the
pace and the time left (on the terminal, and every 30 s in log.txt: `progress.progress_bar`),
one log line per epoch, a warning per restart, and the weights for the run.
"""

from __future__ import annotations

import math
from typing import Any

from lightly_ray.crash_points import crash_point
from lightly_ray.progress import StageProgress, logger, progress_bar


class TrainingProgress:
    """The epochs and weights the workers report, shown as they come.

    Args:
        max_epochs: `trainer.max_epochs`.
        rows: Images (or crops) an epoch trains on, about: the bar's length per epoch.

    Attributes:
        epochs: The record of each epoch this attempt trained, in order.
        weights: The trained weights, once the workers handed them back.

    """

    def __init__(self, max_epochs: int, rows: int) -> None:
        self.max_epochs, self.rows = max_epochs, rows
        self.epochs: list[dict[str, Any]] = []
        self.weights: dict[str, Any] | None = None
        self.bar: StageProgress | None = None
        self.first_epoch = 1  # of this attempt: a resumed training starts after its checkpoint
        self.attempts = 0  # of the training function in this run: more than one after a restart
        self.position = 0  # images counted on the bar

    def drain(self, queue: Any, wait_s: float = 0.5) -> None:
        """Show every item in the queue, waiting up to `wait_s` for the first."""
        from ray.util.queue import Empty

        try:
            item = queue.get(timeout=wait_s)
        except Empty:
            return
        while True:
            self._show(item)
            try:
                item = queue.get_nowait()
            except Empty:
                return

    def close(self) -> None:
        """End the bar (its last line says how long the epochs took)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _show(self, item: dict[str, Any]) -> None:
        if "weights" in item:
            self.weights = item["weights"]
            return
        if "warning" in item:
            logger.warning("%s", item["warning"])
            return
        if "start" in item:
            self.attempts += 1
            if self.attempts > 1:
                start = int(item["start"])
                logger.warning(
                    "training restarted at epoch %d after a training process was lost (attempt %d): %s",
                    start,
                    self.attempts,
                    "from the start, no checkpoint was taken yet"
                    if start == 1
                    else f"from the checkpoint of epoch {start - 1}",
                )
            return
        epoch = int(item["epoch"])
        if self.bar is None:
            self._start(epoch)
        if "loss" not in item:  # how far this epoch got
            self._move_to((epoch - self.first_epoch) * self.rows + min(int(item["seen"]), self.rows))
            return
        self._move_to((epoch - self.first_epoch + 1) * self.rows)
        self.epochs.append(item)
        rate = item["images"] / item["seconds"] if item["seconds"] > 0 else math.nan
        logger.info(
            "training epoch %d/%d: loss %.4f (%d images, %.1f s, %.1f img/s)",
            epoch,
            self.max_epochs,
            item["loss"],
            item["images"],
            item["seconds"],
            rate,
        )
        crash_point("training")

    def _start(self, epoch: int) -> None:
        if epoch > 1:  # said before the epochs this attempt trains
            logger.info(
                "training resumed from a checkpoint: epochs 1-%d ran in an earlier attempt (only "
                "their loss is known: report.json gives no images or seconds for them)",
                epoch - 1,
            )
        self.first_epoch = epoch
        self.bar = progress_bar((self.max_epochs - epoch + 1) * self.rows, "training")

    def _move_to(self, position: int) -> None:
        assert self.bar is not None
        if position > self.position:
            self.bar.update(position - self.position)
            self.position = position
