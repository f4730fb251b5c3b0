"""Copies of a finished run's input and lightly folders, for tests that each change their own."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_run_folders(source: Path, target: Path) -> tuple[Path, Path]:
    """`source`'s `input` and `lightly` folders copied into `target`; returns the copies.

    `copytree` keeps the files' modification times to the nanosecond, which the datapool
    compares with the ones its state recorded: the copies are the same dataset, unchanged.
    """
    for name in ("input", "lightly"):
        shutil.copytree(source / name, target / name)
    return target / "input", target / "lightly"
