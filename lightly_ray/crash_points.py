"""Named points where a test can kill a run, to prove that a crash anywhere loses nothing.

`LIGHTLY_RAY_CRASH_AT=<point>[:<n>]` makes the driver kill itself with SIGKILL (no cleanup, no
exception handler: as an out-of-memory kill or a lost node does) the n-th time (default the
first) it reaches `<point>`. Without the variable a crash point costs one dictionary lookup.

Points, in run order: `embedding` (after each batch of embedded rows reaches the driver),
`selection` (the selection is computed, nothing of it written), `writing` (the run folder's
files are written, the dataset not yet published) and `publishing` (the dataset's new files
are written, its state.json not yet replaced).

Training (`worker_config.enable_training`) has two more, apart from these because only a run
that trains reaches them: `training` (the driver has logged an epoch: the n-th kills the
driver) and `training-worker` (the rank-0 training worker, in local mode the training task, of
an attempt that started without a checkpoint has reported the n-th epoch and its checkpoint,
and kills itself; the workers that resume from a checkpoint go on).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

CRASH_VARIABLE = "LIGHTLY_RAY_CRASH_AT"
CRASH_POINTS = ("embedding", "selection", "writing", "publishing")
TRAINING_CRASH_POINTS = ("training", "training-worker")
_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Kill this process here when LIGHTLY_RAY_CRASH_AT names this point (and count)."""
    wanted = os.environ.get(CRASH_VARIABLE)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] >= int(count or 1):
        kill_this_process()


def worker_crash_epoch() -> int | None:
    """The epoch after which the training worker kills itself (`training-worker[:n]`), or None."""
    point, _, count = os.environ.get(CRASH_VARIABLE, "").partition(":")
    return int(count or 1) if point == "training-worker" else None


def kill_this_process() -> None:
    """SIGKILL this process: no cleanup, as a lost node or an out-of-memory kill."""
    os.kill(os.getpid(), signal.SIGKILL)
