"""What a run tells the person watching it: stage messages, a progress bar, and its log file."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from lightly_ray.storage.secrets import redact

logger = logging.getLogger("lightly_ray")


class RedactingFormatter(logging.Formatter):
    """A formatter that removes credentials from every line (see storage/secrets.py)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then redact it."""
        return redact(super().format(record))


class LogCapture(logging.Handler):
    """Keep every lightly_ray log line of a run, for the run folder's log.txt."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Store one formatted record."""
        self.lines.append(self.format(record))

    def text(self) -> str:
        """All captured lines, newline-terminated."""
        return "".join(f"{line}\n" for line in self.lines)


@contextmanager
def captured_run_log(show_progress: bool) -> Iterator[LogCapture]:
    """Capture the run's log lines and, when asked, print them to the terminal (stderr)."""
    capture = LogCapture()
    console: logging.Handler | None = None
    logger.addHandler(capture)
    if show_progress:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(RedactingFormatter("[lightly-ray] %(message)s"))
        console.setLevel(logging.INFO)
        logger.addHandler(console)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        if console is not None:
            logger.removeHandler(console)
        logger.setLevel(previous_level)


def progress_bar(total: int, description: str, enabled: bool) -> tqdm:
    """A progress bar on stderr (updated at most once a second when not on a terminal)."""
    return tqdm(
        total=total,
        desc=f"[lightly-ray] {description}",
        unit="img",
        disable=not enabled,
        file=sys.stderr,
        mininterval=0.5 if sys.stderr.isatty() else 5.0,
        dynamic_ncols=True,
    )


class Stopwatch:
    """Measure one stage: `with watch("decode+embed"): ...` adds its seconds to `timings`."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the block and log when it finishes."""
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.timings[stage] = round(self.timings.get(stage, 0.0) + seconds, 3)
