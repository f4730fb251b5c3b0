"""What a run tells the person watching it: stage messages, a progress bar, and its log file."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, TextIO

from tqdm import tqdm

from lightly_ray.storage.secrets import redact

logger = logging.getLogger("lightly_ray")
RAY_LINE_PREFIX = "ray | "


class _Console:
    """Where lightly_ray's own messages and progress bars go.

    That is stderr, or the terminal saved by `ray_output_to_log` while Ray's output is redirected.
    """

    stream: TextIO | None = None

    @classmethod
    def get(cls) -> TextIO:
        return cls.stream if cls.stream is not None else sys.stderr


class _ConsoleHandler(logging.Handler):
    """A handler that writes each record to the console of the moment (see `_Console`)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record to the current console."""
        try:
            stream = _Console.get()  # above a progress bar on it, which is drawn again below the line
            tqdm.write(self.format(record), file=stream)
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise
            self.handleError(record)


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

    def note(self, level: int, message: str) -> None:
        """Add a line to the log only (not to the terminal), e.g. the error that ended the run."""
        record = logging.LogRecord(logger.name, level, __file__, 0, message, None, None)
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
        console = _ConsoleHandler()
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


# Lines Ray prints in every healthy run that ask nothing of the user; they stay in log.txt only.
RAY_NOISE = (
    # Ray Data keeps each actor pool's constructor arguments in the object store, so every pool
    # logs this (ray-project/ray#53727); the driver owns them for the whole run.
    "has constructor arguments in the object store and max_restarts > 0",
    # A local Ray instance started by the run listens on this machine only.
    "Token authentication is enabled for this Ray cluster",
    # The run draws its own progress bar.
    "Progress bars disabled",
    "To enable, set `ray.data.DataContext.get_current().enable_progress_bars",
    # `ray.init` in a helper thread (joining a cluster) cannot set Ray's SIGTERM handler; the
    # command handles SIGTERM itself (errors.interrupting_signals).
    "SIGTERM handler is not set because current thread is not the main thread",
)
# The stack trace Ray's C++ core prints when the process gets SIGTERM: a header, then its frames.
# The command reports the interruption itself, so it stays in log.txt (errors.Interrupted).
_SIGTERM_TRACE = re.compile(r"\*\*\* SIGTERM received at time=")
_TRACE_FRAME = re.compile(r"logging\.cc:\d+: +(PC: +)?@ ")
_RAY_ERROR = re.compile(
    r"\b(ERROR|CRITICAL|FATAL)\b"  # Python logging lines (driver and forwarded workers)
    r"|^\[[^\]]* [EF] \d+ \d+\]"  # the C++ core's glog lines at error and fatal level
)
_RAY_WARNING = re.compile(r"\bWARNING\b|^\[[^\]]* W \d+ \d+\]")
_POLL_S = 0.25


def is_ray_problem(line: str, warnings: bool = True) -> bool:
    """Whether a line of Ray's output is an error (or a warning) the user should see as it happens."""
    level = bool(_RAY_ERROR.search(line)) or (warnings and bool(_RAY_WARNING.search(line)))
    return level and not any(noise in line for noise in RAY_NOISE)


class _RayOutput:
    """Ray's output, collected in a file and followed: problems echoed to the terminal, all kept."""

    def __init__(self, sink: BinaryIO, terminal: TextIO, capture: LogCapture, warnings: bool) -> None:
        self.sink, self.terminal, self.capture, self.warnings = sink, terminal, capture, warnings
        self.offset, self.partial = 0, b""
        self.in_sigterm_trace = False
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._follow, name="lightly-ray-output", daemon=True)

    def _follow(self) -> None:
        while not self.stopped.wait(_POLL_S):
            self.read()

    def read(self, final: bool = False) -> None:
        """Take what Ray wrote since the last call."""
        chunk = os.pread(self.sink.fileno(), 1 << 20, self.offset)
        while chunk:
            self.offset += len(chunk)
            self.partial += chunk
            chunk = os.pread(self.sink.fileno(), 1 << 20, self.offset)
        *complete, self.partial = self.partial.split(b"\n")
        if final and self.partial:
            complete, self.partial = [*complete, self.partial], b""
        for raw in complete:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if not line.strip():
                continue
            self.capture.lines.append(RAY_LINE_PREFIX + redact(line))
            if _SIGTERM_TRACE.search(line):
                self.in_sigterm_trace = True
            elif not (self.in_sigterm_trace and _TRACE_FRAME.search(line)):
                self.in_sigterm_trace = False
            if is_ray_problem(line, self.warnings) and not self.in_sigterm_trace:
                self.terminal.write(f"[ray] {redact(line)}\n")
                self.terminal.flush()

    def stop(self) -> None:
        """Stop following and take the rest."""
        self.stopped.set()
        self.thread.join()
        self.read(final=True)


@contextmanager
def ray_output_to_log(capture: LogCapture, enabled: bool = True, warnings: bool = True) -> Iterator[None]:
    """Send what Ray writes to this process's stdout and stderr to the run's log, not the terminal.

    That is Ray's warnings, its C++ core's log lines and the output its workers forward. Every
    line goes to the log, prefixed with `ray | `; warnings and errors also reach the terminal as
    they happen (prefixed `[ray] `), except the few that every healthy run prints (`RAY_NOISE`)
    and the stack trace of a SIGTERM (the command says that it was interrupted).
    lightly_ray's own messages and progress bars reach the terminal as before. The redirection
    is at the file-descriptor level, because Ray's C++ core writes to descriptor 2 directly; it
    goes to a file (not a pipe), so that Ray's processes never block on a full pipe.

    Args:
        capture: The run's log.
        enabled: False leaves the terminal as it is (`--debug`).
        warnings: Echo Ray's warnings too, not only its errors (False for `--quiet`).

    """
    if not enabled:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved_out, saved_err = os.dup(1), os.dup(2)
    except OSError:  # no stdout or stderr to redirect (a daemon): nothing reaches a terminal anyway
        yield
        return
    terminal = os.fdopen(os.dup(saved_err), "w", buffering=1, encoding="utf-8", errors="replace")
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        _Console.stream = terminal
        output = _RayOutput(sink, terminal, capture, warnings)
        output.thread.start()
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            output.stop()
            _Console.stream = None
            terminal.close()


class ProgressLines:
    """Progress as whole lines, for a console that is not a terminal (a log file, `ray job logs`).

    A bar redrawn with carriage returns makes one endless line in a file; here every report is a
    line of its own, at most one per `interval_s` (written when rows arrive), and the last one,
    at `close`, says how long the stage took. The time left is estimated at the pace since the
    first rows came, not since the stage's start (actors starting). The same calls as tqdm's:
    `update(n)`, `close()`.
    """

    def __init__(
        self,
        total: int,
        description: str,
        stream: TextIO | _LogLines,
        interval_s: float = 10.0,
        prefix: str = "[lightly-ray] ",
        unit: str = "img",
    ) -> None:
        self.total, self.description, self.stream, self.interval_s = total, description, stream, interval_s
        self.prefix, self.unit = prefix, unit
        self.n, self.started = 0, time.monotonic()
        self.last_shown = self.started
        self.first: tuple[float, int] | None = None  # when the first rows came, and how many
        self.closed = False

    def update(self, count: int) -> None:
        """Count `count` more; write a line when `interval_s` passed since the last one.

        At the total nothing is written: `close` says it, with the stage's time.
        """
        self.n += count
        now = time.monotonic()
        if self.first is None:
            self.first = (now, self.n)
        if now - self.last_shown >= self.interval_s and (self.n < self.total or not self.total):
            self.last_shown = now
            self._write(f"{self._count()}, {self._rate(now):.1f} {self.unit}/s{self._left(now)}")

    def close(self) -> None:
        """Write the final line (once)."""
        if self.closed:
            return
        self.closed = True
        now = time.monotonic()
        self._write(f"{self._count()} in {now - self.started:.1f} s, {self._rate(now):.1f} {self.unit}/s")

    def _count(self) -> str:
        if not self.total:  # not known ahead
            return f"{self.n} {self.unit}"
        return f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)"

    def _left(self, now: float) -> str:
        """The time left at the pace since the first rows came (the stage's start is behind it)."""
        assert self.first is not None
        began, first_n = self.first
        if self.n <= first_n or now <= began or not self.total:
            return ""
        return f", about {(self.total - self.n) * (now - began) / (self.n - first_n):.0f} s left"

    def _rate(self, now: float) -> float:
        return self.n / max(now - self.started, 1e-9)

    def _write(self, text: str) -> None:
        self.stream.write(f"{self.prefix}{self.description}: {text}\n")
        self.stream.flush()


class _LogLines:
    """A stream whose every line goes to the run's log (log.txt) only, not to the terminal."""

    def __init__(self, captures: list[LogCapture]) -> None:
        self.captures = captures

    def write(self, text: str) -> None:
        for line in text.splitlines():
            for capture in self.captures:
                capture.note(logging.INFO, line)

    def flush(self) -> None:
        """Nothing is buffered."""


class StageProgress:
    """A stage's progress on the console (`console`) and, every `LOG_INTERVAL_S`, in the run's log.

    The same calls as tqdm's: `update(n)`, `close()`. The log's lines say how far the stage got
    and at what pace, for reading after the run (log.txt) when the console is gone.
    """

    LOG_INTERVAL_S = 30.0

    def __init__(self, console: tqdm | ProgressLines, log: ProgressLines | None) -> None:
        self.console, self.log = console, log

    def update(self, count: int) -> None:
        """Count `count` more rows."""
        self.console.update(count)
        if self.log is not None:
            self.log.update(count)

    def close(self) -> None:
        """End the stage: the console's last report, and the log's line with its time."""
        self.console.close()
        if self.log is not None:
            self.log.close()


def progress_bar(
    total: int, description: str, enabled: bool | None = None, unit: str = "img"
) -> StageProgress:
    """Progress of a stage, on the console and in the run's log (`StageProgress`), counting `unit`.

    On the console: a bar on a terminal, else (or on a terminal that reports no width) a line
    every 10 s (`ProgressLines`); nothing when not `enabled`. In the log of a run that captures
    one (`captured_run_log`): a line every `StageProgress.LOG_INTERVAL_S`, and the stage's time.
    """
    console = _Console.get()
    if enabled is None:  # as the run's messages: on the console when they are
        enabled = any(isinstance(handler, _ConsoleHandler) for handler in logger.handlers)
    captures = [handler for handler in logger.handlers if isinstance(handler, LogCapture)]
    log = None
    if captures:
        log = ProgressLines(
            total, description, _LogLines(captures), StageProgress.LOG_INTERVAL_S, prefix="", unit=unit
        )
    if enabled and (not console.isatty() or _columns(console) == 0):
        return StageProgress(ProgressLines(total, description, console, unit=unit), log)
    bar = tqdm(
        total=total or None,  # 0: not known ahead
        desc=f"[lightly-ray] {description}",
        unit=unit,
        disable=not enabled,
        file=console,
        mininterval=0.5,
        dynamic_ncols=True,
    )
    return StageProgress(bar, log)


def _columns(stream: TextIO) -> int:
    """The terminal's width; 0 when it says none, or no height (tqdm then hides its bar), as some CI ptys."""
    try:
        size = os.get_terminal_size(stream.fileno())
        return size.columns if size.lines else 0
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0
