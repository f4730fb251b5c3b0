"""SIGINT and SIGTERM end a command with one message and 128 + the signal (errors.Interrupted).

In this process: the handlers that `lightly-ray` installs, the SIGTERM handler Ray's driver
installs (a SystemExit(15)), the message, the exit code, and the stack trace of a SIGTERM that
Ray's C++ core prints (log only). A whole run stopped by SIGTERM: tests/integration/test_cli_signals.py.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

import pytest

from lightly_ray import cli
from lightly_ray.errors import (
    Interrupted,
    interrupting_signals,
    interruption,
    keep_sigterm_after_ray_init,
    raise_if_interrupted,
    signals_deferred,
    take_deferred_signal,
    user_message,
    with_run_folder,
)
from lightly_ray.progress import LogCapture, ray_output_to_log
from lightly_ray.stopwatch import Stopwatch

FOLDER = "s3://bucket/lightly/.lightly/runs/20261206-044610-03e10c"
RESUMES = (
    "Running the same command again resumes it: it reuses the embeddings in the dataset's embedding cache, "
    "or the last checkpoint of its training"
)


def _signal_self(number: int) -> None:
    os.kill(os.getpid(), number)
    time.sleep(5)  # the handler raises in the main thread long before
    pytest.fail("the signal did not interrupt")


def test_the_message_names_the_signal_and_the_run_folder() -> None:
    assert user_message(Interrupted(signal.SIGTERM)) == (
        "interrupted by SIGTERM: the command stopped before it finished"
    )
    stopped = with_run_folder(Interrupted(signal.SIGINT), FOLDER)
    assert user_message(stopped) == (
        "interrupted by SIGINT: the run stopped before it finished; its folder "
        f"{FOLDER} has no _SUCCESS\n{RESUMES}"
    )
    assert Interrupted(signal.SIGINT).exit_code == 130 and Interrupted(signal.SIGTERM).exit_code == 143


def test_keyboard_interrupt_and_rays_sigterm_exit_are_interruptions() -> None:
    ctrl_c = with_run_folder(KeyboardInterrupt(), FOLDER)
    converted = interruption(ctrl_c)
    assert converted is not None and converted.signal_number == signal.SIGINT
    assert converted.run_folder == FOLDER
    by_ray = interruption(SystemExit(15))  # ray.init's driver handler: sys.exit(signum)
    assert by_ray is not None and by_ray.exit_code == 143
    assert user_message(SystemExit(15)).startswith("interrupted by SIGTERM: ")
    assert interruption(SystemExit(1)) is None and interruption(ValueError("x")) is None
    assert "This is a bug" in user_message(SystemExit(1))


def test_signals_raise_interrupted_inside_and_are_restored_after() -> None:
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in (signal.SIGTERM, signal.SIGINT):
        with pytest.raises(Interrupted) as caught, interrupting_signals():
            _signal_self(number)
        assert caught.value.signal_number == number and isinstance(caught.value, KeyboardInterrupt)
    assert {number: signal.getsignal(number) for number in before} == before


class _SignalledInDel:
    """Receives the signal while Python runs its `__del__`, where an exception is only printed."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here, and Python swallows it ("Exception ignored")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed one
def test_a_signal_swallowed_where_it_was_raised_stops_the_next_stage() -> None:
    watch, went_on = Stopwatch(), False
    with interrupting_signals():
        with pytest.raises(Interrupted) as caught, watch("embed"):
            _SignalledInDel()  # dropped at once: its __del__ gets the signal, Python swallows it
            went_on = True
        assert went_on, "the block went on after the swallowed signal"
        assert caught.value.signal_number == signal.SIGTERM
        with pytest.raises(Interrupted):
            raise_if_interrupted()
    raise_if_interrupted()  # leaving interrupting_signals forgets it


def test_sigterm_is_taken_back_from_ray_after_ray_init() -> None:
    import ray._private.worker as ray_worker

    def rays_handler(signum: int, frame: object) -> None:  # what ray.init installs
        sys.exit(signum)

    keep_sigterm_after_ray_init()
    keep_sigterm_after_ray_init()
    hooks: list[Callable[[], None]] = ray_worker._post_init_hooks
    ours = [hook for hook in hooks if hook.__module__ == "lightly_ray.errors"]
    assert len(ours) == 1, "registered once"
    original = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Interrupted) as caught, interrupting_signals():
            signal.signal(signal.SIGTERM, rays_handler)
            ours[0]()
            _signal_self(signal.SIGTERM)
        assert caught.value.exit_code == 143
        signal.signal(signal.SIGTERM, rays_handler)
        ours[0]()  # outside interrupting_signals: changes nothing
        assert signal.getsignal(signal.SIGTERM) is rays_handler
    finally:
        signal.signal(signal.SIGTERM, original)
        hooks.remove(ours[0])


@pytest.mark.parametrize(
    ("stop", "code", "message"),
    [
        (lambda: _signal_self(signal.SIGTERM), 143, "interrupted by SIGTERM"),
        (lambda: _signal_self(signal.SIGINT), 130, "interrupted by SIGINT"),
        (lambda: sys.exit(15), 143, "interrupted by SIGTERM"),
    ],
)
def test_the_command_exits_with_128_plus_the_signal(
    stop: Callable[[], None],
    code: int,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli, "_schema", lambda args: stop())
    assert cli.main(["schema"]) == code
    assert capsys.readouterr().err == f"error: {message}: the command stopped before it finished\n"


def test_other_system_exits_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_schema", lambda args: sys.exit(3))
    with pytest.raises(SystemExit) as caught:
        cli.main(["schema"])
    assert caught.value.code == 3


CORE = "[2026-12-06 04:41:34,218 E 23039 23039] logging.cc:474: "
SIGTERM_TRACE = [
    f"{CORE}*** SIGTERM received at time=1796532094 on cpu 1 ***",
    f"{CORE}PC: @     0x7f8926ced545  (unknown)  clock_nanosleep",
    f"{CORE}    @     0x7f8926c5a050  307722888  (unknown)",
    f"{CORE}    @ ... and at least 11 more frames",
]
SIGSEGV_TRACE = [
    f"{CORE}*** SIGSEGV received at time=1796532094 on cpu 1 ***",
    f"{CORE}PC: @     0x7f8926ced545  (unknown)  clock_nanosleep",
]


def test_the_stack_trace_of_a_sigterm_stays_in_the_log(capfd: pytest.CaptureFixture[str]) -> None:
    capture = LogCapture()
    with ray_output_to_log(capture):
        os.write(2, "".join(f"{line}\n" for line in SIGTERM_TRACE + SIGSEGV_TRACE).encode())
    assert capfd.readouterr().err == "".join(f"[ray] {line}\n" for line in SIGSEGV_TRACE)
    assert capture.lines == [f"ray | {line}" for line in SIGTERM_TRACE + SIGSEGV_TRACE]


def test_a_part_of_a_stage_is_split_off_as_its_own() -> None:
    watch = Stopwatch()
    watch.timings["embed"] = 10.0
    watch.split("embed", "training", 7.25)
    assert watch.timings == {"embed": 2.75, "training": 7.25}
    watch.split("embed", "training", 5.0)  # never more than the stage took
    assert watch.timings == {"embed": 0.0, "training": 10.0}


def test_a_signal_while_deferred_waits_and_can_be_taken_once_the_steps_are_done() -> None:
    with interrupting_signals():
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run, and raised nothing
        with pytest.raises(Interrupted):
            raise_if_interrupted()  # a stage after the deferred steps stops
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        assert take_deferred_signal() == "SIGINT"
        raise_if_interrupted()  # taken: nothing left to raise
        assert take_deferred_signal() is None
