"""Ray's own output during a run: all of it in log.txt, its warnings and errors on the terminal."""

from __future__ import annotations

import os

import pytest

from lightly_ray.progress import LogCapture, is_ray_problem, ray_output_to_log

CONSTRUCTOR = (
    "[2026-12-02 00:44:53,428 E 24986 24986] core_worker.cc:2465: Actor with class name: "
    "'MapWorker(MapBatches(EmbedImages))' and ID: 'ef27' has constructor arguments in the object "
    "store and max_restarts > 0. If the arguments in the object store go out of scope or are lost, "
    "the actor restart will fail."
)
PROGRESS = (
    "2026-12-02 00:44:53,429\tWARNING __init__.py:28 -- Progress bars disabled. To enable, set "
    "`ray.data.DataContext.get_current().enable_progress_bars = True`."
)
OOM = (
    "[2026-12-02 00:50:01,000 E 100 120] (raylet) node_manager.cc:3000: 1 Workers (tasks / actors) "
    "killed due to memory pressure (OOM)"
)
PY_WARNING = "2026-12-02 00:44:53,388\tWARNING plan.py:12 -- The object store is using /tmp, not /dev/shm"
TOKEN = (
    "2026-12-02 01:09:13,861\tWARNING authentication_token_setup.py:85 -- Token authentication is "
    "enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to opt out."
)
INFO = "2026-12-02 00:44:53,388\tINFO streaming_executor.py:215 -- Starting execution of Dataset"


@pytest.mark.parametrize(
    ("line", "shown"),
    [(CONSTRUCTOR, False), (PROGRESS, False), (TOKEN, False), (INFO, False), (OOM, True), (PY_WARNING, True)],
)
def test_which_ray_lines_reach_the_terminal(line: str, shown: bool) -> None:
    assert is_ray_problem(line) is shown


def test_ray_output_goes_to_the_log_and_problems_to_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    capture = LogCapture()
    with ray_output_to_log(capture):
        for line in (INFO, CONSTRUCTOR, OOM, PROGRESS):
            os.write(2, (line + "\n").encode())
        os.write(1, b"unterminated last line")
    terminal = capfd.readouterr().err
    assert terminal == f"[ray] {OOM}\n"
    assert capture.lines == [f"ray | {line}" for line in (INFO, CONSTRUCTOR, OOM, PROGRESS)] + [
        "ray | unterminated last line"
    ]


def test_quiet_runs_show_ray_errors_only(capfd: pytest.CaptureFixture[str]) -> None:
    assert is_ray_problem(PY_WARNING, warnings=False) is False and is_ray_problem(OOM, warnings=False)
    capture = LogCapture()
    with ray_output_to_log(capture, warnings=False):
        os.write(2, f"{PY_WARNING}\n{OOM}\n".encode())
    assert capfd.readouterr().err == f"[ray] {OOM}\n"
    assert len(capture.lines) == 2


def test_disabled_leaves_the_terminal_alone(capfd: pytest.CaptureFixture[str]) -> None:
    capture = LogCapture()
    with ray_output_to_log(capture, enabled=False):
        os.write(2, (CONSTRUCTOR + "\n").encode())
    assert capfd.readouterr().err == CONSTRUCTOR + "\n"
    assert capture.lines == []
