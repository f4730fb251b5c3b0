"""Exceptions a user of lightly_ray can act on, and the interruption by a signal.

Every error says what was wrong, where (file, config key) and what is allowed instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class LightlyRayError(Exception):
    """Base class of all errors raised by lightly_ray for bad input or configuration."""


class ConfigError(LightlyRayError, ValueError):
    """A configuration is invalid.

    Attributes:
        problems: One message per problem, each starting with the dotted key path.

    """

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {problem}" for problem in problems)
        count = len(problems)
        super().__init__(f"{count} configuration problem{'s' if count != 1 else ''}{where}:\n{lines}")


class NotYetSupportedError(LightlyRayError):
    """A valid configuration asks for a feature this version of lightly_ray cannot run yet."""

    def __init__(self, features: list[str]) -> None:
        self.features = features
        lines = "\n".join(f"  - {feature}" for feature in features)
        super().__init__(
            "The configuration is valid, but this version of lightly_ray cannot run it yet:\n"
            f"{lines}\nRemove or change these keys to run now."
        )


class SelectionInputError(LightlyRayError, ValueError):
    """A selection's inputs cannot be built or selected on.

    Building them from a run's data (an unknown task, score, metadata key or class) or
    selecting on the arrays (NaN or infinite values, a wrong shape, an unknown objective or
    threshold operation). The message starts with the config path or objective label.
    """


class WeightsNotAvailableError(LightlyRayError):
    """The model weights the configuration asks for cannot be loaded."""


class StorageError(LightlyRayError):
    """A storage location cannot be opened, read or written."""


class ReadOnlyLocationError(StorageError):
    """Something tried to write to a location that was opened read-only (the input)."""


class UnsafePathError(StorageError):
    """A relative path would escape its storage location."""


class InputFormatError(LightlyRayError):
    """A file in the lightly location does not follow its format.

    Predictions, metadata, relevant filenames, embeddings CSV: the message names the file and
    the key and says what was expected.
    """


class ClusterError(LightlyRayError):
    """The Ray cluster named by `--address` (or RAY_ADDRESS) is malformed or does not answer."""


class UsageError(LightlyRayError):
    """A command-line or API argument is malformed (not the config: see ConfigError)."""


class Interrupted(KeyboardInterrupt):
    """The command was asked to stop: Ctrl-C (SIGINT), or SIGTERM (`kill`, `ray job stop`, Kubernetes).

    A KeyboardInterrupt, so that SIGTERM takes every path that Ctrl-C takes: the dataset lock is
    released, the local Ray instance stopped, and the run folder keeps its log.txt but no _SUCCESS.

    Attributes:
        signal_number: The signal that stopped the command.
        run_folder: The folder of the run it stopped (see `with_run_folder`), if one was started.

    """

    def __init__(self, signal_number: int = signal.SIGINT) -> None:
        super().__init__(int(signal_number))
        self.signal_number = int(signal_number)
        self.run_folder: str | None = None

    @property
    def signal_name(self) -> str:
        """SIGINT, SIGTERM."""
        try:
            return signal.Signals(self.signal_number).name
        except ValueError:
            return f"signal {self.signal_number}"

    @property
    def exit_code(self) -> int:
        """The shell's convention, 128 plus the signal: 130 after Ctrl-C, 143 after SIGTERM."""
        return 128 + self.signal_number


def interruption(error: BaseException) -> Interrupted | None:
    """`error` as an `Interrupted`, or None when it is no interruption.

    Besides `Interrupted`, a plain KeyboardInterrupt (Python's own SIGINT handler) is one, and
    SystemExit(15): the SIGTERM handler that `ray.init` installs in the driver calls
    `sys.exit(signum)`, and it is active while Ray starts (see `keep_sigterm_after_ray_init`).

    Args:
        error: The exception that ended the command.

    Returns:
        The interruption, with the run folder noted on `error`.

    """
    if isinstance(error, Interrupted):
        return error
    if isinstance(error, KeyboardInterrupt):
        stopped = Interrupted(signal.SIGINT)
    elif isinstance(error, SystemExit) and error.code == signal.SIGTERM:
        stopped = Interrupted(signal.SIGTERM)
    else:
        return None
    stopped.run_folder = getattr(error, "run_folder", None)
    return stopped


def with_run_folder(error: BaseException, run_folder: str) -> BaseException:
    """Note on `error` the folder of the run it stopped, for its message; returns `error`."""
    setattr(error, "run_folder", run_folder)  # noqa: B010 - any exception, not only ours
    return error


def user_message(error: BaseException) -> str:
    """The one message a user sees for an error: what went wrong and what to change.

    A lightly_ray error speaks for itself. An error raised inside a Ray task arrives wrapped in
    Ray's task error, whose text repeats the remote traceback: its cause is shown instead. An
    interruption names the run folder it left unfinished (when `with_run_folder` noted one) and
    says how to resume. Any other exception is a bug, and the message says how to report it.

    Args:
        error: The exception that ended the command.

    Returns:
        A message without a traceback.

    """
    stopped = interruption(error)
    if stopped is not None:
        return _interrupted_message(stopped)
    cause = getattr(error, "cause", None)
    if type(error).__name__.startswith("RayTaskError") and isinstance(cause, BaseException):
        error = cause
    if isinstance(error, LightlyRayError):
        return str(error)
    detail = str(error) or "(no message)"
    return (
        f"unexpected {type(error).__name__}: {detail}\n"
        "This is a bug in lightly_ray: rerun with --debug (or LIGHTLY_RAY_DEBUG=1) and report the traceback."
    )


def _interrupted_message(stopped: Interrupted) -> str:
    # What a rerun does: docs/datasets.md, "Crashes and resuming".
    head = f"interrupted by {stopped.signal_name}"
    if stopped.run_folder is None:
        return f"{head}: the command stopped before it finished"
    return (
        f"{head}: the run stopped before it finished; its folder {stopped.run_folder} has no _SUCCESS\n"
        "Running the same command again resumes it: it reuses the embeddings in the dataset's "
        "embedding cache, or the last checkpoint of its training"
    )


class _Signals:
    """Whether `interrupting_signals` is active, and the signal that asked to stop, if any."""

    active = False
    pending: int | None = None
    deferred = False  # inside `signals_deferred`: a signal waits


def _raise_interrupted(signal_number: int, frame: FrameType | None) -> None:
    _Signals.pending = signal_number
    if not _Signals.deferred:
        raise Interrupted(signal_number)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM wait (`raise_if_interrupted` raises them after).

    For the last steps of a run, which publish what it did (the dataset's state, the run
    folder's _SUCCESS, the dataset's lock withdrawn): stopped between them, the run would be in
    the dataset but not committed, and a rerun refused.
    """
    previous, _Signals.deferred = _Signals.deferred, True
    try:
        yield
    finally:
        _Signals.deferred = previous


def take_deferred_signal() -> str | None:
    """The name of a signal that came while deferred (`signals_deferred`), which is then dropped."""
    if _Signals.pending is None or not _Signals.active:
        return None
    name = Interrupted(_Signals.pending).signal_name
    _Signals.pending = None
    return name


def raise_if_interrupted() -> None:
    """Raise the interruption a signal asked for, if its handler's exception was swallowed.

    The handler raises `Interrupted` wherever the main thread is. Inside a weakref callback or
    a `__del__` (Ray's objects run some) Python prints "Exception ignored" and goes on, and the
    run would finish as if nothing had been asked. A run calls this between stages and between
    the pipeline's batches, so that the signal stops it there.
    """
    if _Signals.pending is not None:
        raise Interrupted(_Signals.pending)


@contextmanager
def interrupting_signals() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise `Interrupted` in the main thread; restored after.

    Outside the main thread (where Python sets no signal handler) it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in numbers}
    for number in numbers:
        signal.signal(number, _raise_interrupted)
    _Signals.active, _Signals.pending = True, None
    try:
        yield
    finally:
        _Signals.active, _Signals.pending = False, None
        for number, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, which it cannot restore
                signal.signal(number, handler)


def keep_sigterm_after_ray_init() -> None:
    """Take SIGTERM back from Ray each time `ray.init` has connected (call once Ray is imported).

    `ray.init` installs the driver's own SIGTERM handler (it calls `sys.exit(15)`, which would end
    the run as an unexpected SystemExit), and Ray's C++ core adds a failure signal handler that
    prints a stack trace for SIGTERM. Setting `interrupting_signals`' handler again after the
    connection (Ray's post-init hooks, which its own libraries use too) replaces both. A
    connection made in another thread (`ray_session` joining a cluster) cannot do that: Ray's
    Python handler is not set then either, and the C++ handler passes SIGTERM on to ours after
    its stack trace (which `progress` keeps off the terminal).
    """
    import ray._private.worker as ray_worker

    hooks = getattr(ray_worker, "_post_init_hooks", None)
    if isinstance(hooks, list) and _take_sigterm_back not in hooks:
        hooks.append(_take_sigterm_back)


def _take_sigterm_back() -> None:
    if _Signals.active and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupted)
