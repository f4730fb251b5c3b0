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


def start_lightly_ray(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `python -m lightly_ray.cli ARGS` without waiting (stderr piped, stdout to a pipe)."""
    return subprocess.Popen(
        [sys.executable, "-m", "lightly_ray.cli", *args],
        cwd=REPO,
        env=environment(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
