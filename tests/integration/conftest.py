from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_process import processes_naming
from tests.data.grouped_images import GROUPS, PER_GROUP, group_image


@pytest.fixture
def ray_tmpdir() -> Iterator[Path]:
    """A RAY_TMPDIR of the test's own; processes that still name it at the end are killed.

    Short, because Ray puts Unix sockets below it (at most 107 characters a path). Only ever
    the processes of the test's own Ray instance name it.
    """
    folder = Path(tempfile.mkdtemp(prefix="lrt-", dir="/tmp"))
    try:
        yield folder
    finally:
        for pid in processes_naming(folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def grouped_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("input")
    for group in range(GROUPS):
        for member in range(PER_GROUP):
            folder = root / f"group_{group}"
            folder.mkdir(exist_ok=True)
            (folder / f"img_{member}.png").write_bytes(group_image(group, member))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "group_0" / "img_0_copy.png").write_bytes((root / "group_0" / "img_0.png").read_bytes())
    (root / "readme.txt").write_text("not an image")
    return root
