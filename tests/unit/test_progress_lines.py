"""Progress on a console that is not a terminal: whole lines, the last one once (progress.py)."""

from __future__ import annotations

import io
import os

import pyarrow as pa
import pytest
from tqdm import tqdm

from lightly_ray import progress
from lightly_ray.pipeline.build import counted_unit
from lightly_ray.progress import ProgressLines, captured_run_log, progress_bar


def test_each_report_is_a_line_and_the_final_one_is_written_once() -> None:
    stream = io.StringIO()
    lines = ProgressLines(4, "decode+embed", stream, interval_s=0.0)
    for _ in range(4):
        lines.update(1)
    lines.close()
    lines.close()

    written = stream.getvalue()
    assert "\r" not in written
    rows = written.splitlines()
    assert [row.split(": ", 1)[1].split(",")[0] for row in rows[:3]] == [
        "1/4 img (25%)",
        "2/4 img (50%)",
        "3/4 img (75%)",
    ]
    assert all("s left" in row for row in rows[1:3])
    # 100% once: in the final line, which says how long it took.
    assert len(rows) == 4 and rows[3].startswith("[lightly-ray] decode+embed: 4/4 img (100%) in ")


def test_the_time_left_is_at_the_pace_since_the_first_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    lines = ProgressLines(100, "decode+embed", stream, interval_s=5.0)
    clock[0] = 10.0  # actors started: the first 10 rows come 10 s in
    lines.update(10)
    clock[0] = 20.0  # 20 more in 10 s: 2 rows/s, 70 left
    lines.update(20)
    assert stream.getvalue().splitlines() == [
        "[lightly-ray] decode+embed: 10/100 img (10%), 1.0 img/s",
        "[lightly-ray] decode+embed: 30/100 img (30%), 1.5 img/s, about 35 s left",
    ]


def test_between_reports_nothing_is_written() -> None:
    stream = io.StringIO()
    lines = ProgressLines(1000, "decode+embed", stream, interval_s=3600.0)
    for _ in range(1000):
        lines.update(1)
    lines.close()
    assert stream.getvalue().count("\n") == 1 and "1000/1000 img (100%) in" in stream.getvalue()


def test_a_terminal_gets_a_bar_and_a_file_gets_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(progress._Console, "stream", io.StringIO())
    assert isinstance(progress_bar(3, "decode+embed", True).console, ProgressLines)
    monkeypatch.setattr(progress._Console, "stream", Terminal())
    monkeypatch.setattr(progress, "_columns", lambda stream: 120)
    bar = progress_bar(3, "decode+embed", True).console
    assert isinstance(bar, tqdm)
    bar.close()
    disabled = progress_bar(3, "decode+embed", False).console
    assert isinstance(disabled, tqdm) and disabled.disable
    # A pseudo-terminal that says it has no columns would get tqdm's empty bar: lines instead.
    monkeypatch.setattr(progress, "_columns", lambda stream: 0)
    assert isinstance(progress_bar(3, "decode+embed", True).console, ProgressLines)


def test_the_run_s_log_gets_a_line_every_30_s_and_the_stage_s_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(progress._Console, "stream", io.StringIO())
    with captured_run_log(show_progress=False) as log:
        bar = progress_bar(100, "decode+embed", False)
        for _ in range(10):
            clock[0] += 10.0
            bar.update(5)
        bar.close()
    lines = [line.split(" INFO ", 1)[1] for line in log.lines]
    assert lines == [
        "decode+embed: 15/100 img (15%), 0.5 img/s, about 170 s left",
        "decode+embed: 30/100 img (30%), 0.5 img/s, about 140 s left",
        "decode+embed: 45/100 img (45%), 0.5 img/s, about 110 s left",
        "decode+embed: 50/100 img (50%) in 100.0 s, 0.5 img/s",
    ]
    assert progress._Console.stream.getvalue() == ""  # not shown: the log only


def test_the_lines_count_frames_in_a_run_of_videos_and_samples_in_a_mixed_one() -> None:
    images = pa.table({"video_frames": pa.array([0, 0], pa.int64())})
    videos = pa.table({"video_frames": pa.array([40, 40], pa.int64())})
    mixed = pa.concat_tables([images, videos])
    assert [counted_unit(units) for units in (images, videos, mixed)] == ["img", "frames", "samples"]

    stream = io.StringIO()
    lines = ProgressLines(120, "decode+embed", stream, interval_s=3600.0, unit="frames")
    lines.update(120)
    lines.close()
    assert "decode+embed: 120/120 frames (100%) in " in stream.getvalue()
    assert stream.getvalue().rstrip().endswith(" frames/s")


def test_a_pseudo_terminal_without_rows_gets_lines_where_tqdm_would_hide_its_bar() -> None:
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal:
            fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 0, 100, 0, 0))
            assert progress._columns(terminal) == 0
            fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
            assert progress._columns(terminal) == 100
    finally:
        os.close(leader)
        os.close(follower)


def test_a_message_during_a_bar_is_a_line_of_its_own_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(progress._Console, "stream", terminal)
    monkeypatch.setattr(progress, "_columns", lambda stream: 100)
    with captured_run_log(show_progress=True):
        bar = progress_bar(10, "training")  # shown: the run's messages are
        bar.update(3)
        progress.logger.info("training epoch 1/2: loss 3.0000")
        bar.update(7)
        bar.close()
    # The bar is cleared (spaces up to its width), the message written, the bar drawn again.
    screens = terminal.getvalue().split("\r")
    cleared = screens.index("[lightly-ray] training epoch 1/2: loss 3.0000\n") - 1
    assert screens[cleared].strip() == "" and "0/10" in screens[cleared - 1]
    assert "3/10" in screens[cleared + 2] and "10/10" in screens[-1]
