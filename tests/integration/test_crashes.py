"""A run killed anywhere (SIGKILL, no cleanup) leaves its dataset as it was, and a rerun finishes it.

The killed runs are `lightly-ray run` processes joined to the session's Ray instance, killed at
the named crash points of `lightly_ray.crash_points`; the reruns must end with the selection of a
run that was never interrupted, and a rerun after a kill during embedding embeds only what the
killed run had not.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml

import lightly_ray
from lightly_ray.crash_points import CRASH_POINTS, CRASH_VARIABLE
from lightly_ray.outputs import finished_run_ids
from lightly_ray.storage import Location
from tests.cli_process import lightly_ray as lightly_ray_command
from tests.data.grouped_images import FAST_MODEL, group_image
from tests.run_copies import copy_run_folders

pytestmark = pytest.mark.usefixtures("ray_instance")

FIRST_GROUPS, SECOND_GROUPS, MEMBERS_FIRST, MEMBERS_SECOND = range(2), range(2, 5), 12, 400
CONFIG: dict[str, Any] = {
    "worker_config": {"use_datapool": True},
    "selection_config": {
        "n_samples": 5,
        "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
    },
    "lightly_config": FAST_MODEL,
}


def _add_images(root: Path, groups: range, members: int) -> None:
    for group in groups:
        for member in range(members):
            (root / f"g{group}_{member:03d}.png").write_bytes(group_image(group, member))


@dataclass(frozen=True)
class FirstRun:
    """A folder holding `input` and `lightly` after the first run, and that run's result."""

    folder: Path
    result: lightly_ray.RunResult

    def copy_to(self, folder: Path) -> tuple[Path, Path]:
        """The input and lightly folders copied to `folder`; returns the copies."""
        return copy_run_folders(self.folder, folder)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """A first datapool run on two groups, then three more groups arrive in the input.

    Every test starts from a copy of it: the same dataset, for one run instead of one a test.
    """
    folder = tmp_path_factory.mktemp("first")
    root = folder / "input"
    root.mkdir()
    _add_images(root, FIRST_GROUPS, MEMBERS_FIRST)
    result = lightly_ray.run(
        root,
        folder / "lightly",
        config=CONFIG,
        overrides=["selection_config.n_samples=2"],
        show_progress=False,
    )
    _add_images(root, SECOND_GROUPS, MEMBERS_SECOND)
    return FirstRun(folder, result)


@pytest.fixture(scope="module")
def uninterrupted(first_run: FirstRun, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The second run's selection when nothing is killed."""
    root, lightly = first_run.copy_to(tmp_path_factory.mktemp("uninterrupted"))
    return lightly_ray.run(root, lightly, config=CONFIG, show_progress=False).selected


def _dataset_files(lightly: Path) -> dict[str, bytes]:
    root = lightly / ".lightly/datasets/input"
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "cache" not in path.parts and "locks" not in path.parts
    }


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_run_killed_at_any_point_leaves_the_dataset_and_a_rerun_finishes(
    point: str, tmp_path: Path, first_run: FirstRun, uninterrupted: list[str]
) -> None:
    root, lightly = first_run.copy_to(tmp_path)
    first = first_run.result
    state_before = (lightly / ".lightly/datasets/input/state.json").read_bytes()
    published_before = _dataset_files(lightly)
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG))
    address = ray.get_runtime_context().gcs_address
    # The second batch: the first one's cache part is written by the time the second arrives.
    crash = f"{point}:2" if point == "embedding" else point
    killed = lightly_ray_command(
        "run", "--input", str(root), "--lightly", str(lightly), "--config", str(config_file),
        "--address", address, "--quiet",
        env={CRASH_VARIABLE: crash},
    )  # fmt: skip
    assert killed.code == -signal.SIGKILL, f"the run was not killed at {point}: {killed.err}"

    assert (lightly / ".lightly/datasets/input/state.json").read_bytes() == state_before
    if point != "publishing":
        assert _dataset_files(lightly) == published_before, "nothing of the killed run is published"
    assert finished_run_ids(Location(str(lightly), writable=False)) == [first.run_id]

    rerun = lightly_ray.run(root, lightly, config=CONFIG, show_progress=False)
    assert rerun.selected == uninterrupted
    assert rerun.counts["nPreselectedDatapool"] == len(first.selected)
    new_images = len(SECOND_GROUPS) * MEMBERS_SECOND
    assert rerun.counts["nInput"] == new_images
    reused = rerun.report["embedding"]["reused"]
    if point == "embedding":
        assert 128 <= reused < new_images, "the rerun embeds only what the killed run had not"
    else:
        assert reused == new_images, "the killed run had embedded everything: nothing is embedded again"
    state = json.loads((lightly / ".lightly/datasets/input/state.json").read_text())
    assert [run["run_id"] for run in state["runs"]] == [first.run_id, rerun.run_id]
    assert not list((lightly / ".lightly/datasets/input/cache").rglob("*.parquet")), "the cache is emptied"
