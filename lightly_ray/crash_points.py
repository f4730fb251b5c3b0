"""Named points where a test can kill a run, to prove that a crash anywhere loses nothing.

`LIGHTLY_RAY_CRASH_AT=<point>[:<n>]` makes the driver kill itself with SIGKILL (no cleanup, no
exception handler: as an out-of-memory kill or a lost node does) the n-th time (default the
first) it reaches `<point>`. Without the variable a crash point costs one dictionary lookup.

Points, in run order: `embedding` (after each batch of embedded rows reaches the driver),
`selection` (the selection is computed, nothing of it written), `writing` (the run folder's
files are written, the dataset not yet published) and `publishing` (the dataset's new files
are written, its state.json not yet replaced).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

CRASH_VARIABLE = "LIGHTLY_RAY_CRASH_AT"
CRASH_POINTS = ("embedding", "selection", "writing", "publishing")
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
        os.kill(os.getpid(), signal.SIGKILL)
