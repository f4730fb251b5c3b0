"""Run `lightly-ray` as a user does: a separate process, its exit code, stdout, stderr and time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Finished:
    """A finished command."""

    code: int
    out: str
    err: str
    seconds: float

    def assert_clean_failure(self, code: int) -> None:
        """Exit code `code`, one `error:` message on stderr, no traceback, nothing on stdout."""
        assert self.code == code, f"exit {self.code}, expected {code}\nstderr:\n{self.err}"
        assert "Traceback" not in self.err, self.err
        assert self.err.count("error: ") == 1, self.err
        assert self.out == "", self.out


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without RAY_ADDRESS and LIGHTLY_RAY_DEBUG, plus `extra`."""
    dropped = ("RAY_ADDRESS", "LIGHTLY_RAY_DEBUG")
    base = {key: value for key, value in os.environ.items() if key not in dropped}
    return {**base, "RAY_USAGE_STATS_ENABLED": "0", **(extra or {})}


def lightly_ray(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> Finished:
    """Run `python -m lightly_ray.cli ARGS` and wait for it."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "lightly_ray.cli", *args],
        cwd=cwd or REPO,
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Finished(completed.returncode, completed.stdout, completed.stderr, time.monotonic() - started)


def start_lightly_ray(
    *args: str, env: dict[str, str] | None = None, new_session: bool = False
) -> subprocess.Popen[str]:
    """Start `python -m lightly_ray.cli ARGS` without waiting (stderr piped, stdout to a pipe).

    With `new_session`, in a process session of its own: signals sent to it reach it alone.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "lightly_ray.cli", *args],
        cwd=REPO,
        env=environment(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


def processes_naming(marker: Path) -> dict[int, str]:
    """The live processes whose command line names `marker`, by pid (read from /proc, never truncated)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(marker) in command:
            found[int(entry.name)] = command
    return found
