"""A run says what it did: requested against selected and why fewer, every strategy in config
order, and the picks in order with the value each strategy used; a failed run's log ends with
its error.

The grouped images (tests/data/grouped_images.py) have a known mean red: about 200 in groups 0
and 3, about 51 in group 2, 0 in groups 1 and 4.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import lightly_ray
from lightly_ray.errors import user_message
from lightly_ray.selection.engine import NothingLeftError
from tests.data.grouped_images import FAST_MODEL, GROUPS, PER_GROUP

pytestmark = pytest.mark.usefixtures("ray_instance")

RED_GROUPS = (0, 3)
RED_THRESHOLD = {
    "input": {"type": "METADATA", "key": "lightly.meanRed"},
    "strategy": {"type": "THRESHOLD", "threshold": 150, "operation": "BIGGER"},
}
DIVERSITY = {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}
SHARPNESS = {"input": {"type": "METADATA", "key": "lightly.sharpness"}, "strategy": {"type": "WEIGHTS"}}


def _run(grouped_input: Path, lightly: Path, strategies: list[dict[str, Any]], n_samples: int) -> Any:
    return lightly_ray.run(
        grouped_input,
        lightly,
        selection_config={"n_samples": n_samples, "strategies": strategies},
        lightly_config=FAST_MODEL,
        show_progress=False,
    )


def test_more_requested_than_the_input_holds(grouped_input: Path, tmp_path: Path) -> None:
    result = _run(grouped_input, tmp_path / "lightly", [DIVERSITY], 500)
    candidates = GROUPS * PER_GROUP
    selection = result.report["selection"]
    assert (selection["requested"], selection["nSelected"]) == (500, candidates)
    assert selection["shortfall"] == {
        "reason": "input_smaller_than_requested",
        "message": f"500 samples were requested but the input has only {candidates} candidates.",
    }
    summary = result.summary()
    assert "requested:  500" in summary
    assert (
        f"why fewer:  500 samples were requested but the input has only {candidates} candidates." in summary
    )


def test_every_strategy_in_config_order_with_its_values_per_pick(grouped_input: Path, tmp_path: Path) -> None:
    result = _run(grouped_input, tmp_path / "lightly", [RED_THRESHOLD, DIVERSITY, SHARPNESS], 20)
    passed = len(RED_GROUPS) * PER_GROUP  # group 0's exact duplicate is not a candidate
    selection = result.report["selection"]
    assert selection["requested"] == 20 and selection["nSelected"] == passed
    assert selection["shortfall"]["reason"] == "thresholds_left_too_few"
    assert f"only {passed} of the {GROUPS * PER_GROUP} candidates" in selection["shortfall"]["message"]
    strategies = selection["strategies"]
    assert [(item["index"], item["strategy"], item["input"]) for item in strategies] == [
        (0, "THRESHOLD", "METADATA lightly.meanRed"),
        (1, "DIVERSITY", "EMBEDDINGS"),
        (2, "WEIGHTS", "METADATA lightly.sharpness"),
    ]
    threshold, diversity, weights = strategies
    assert (threshold["nPassed"], threshold["nLeft"], threshold["nCandidates"]) == (passed, passed, 30)
    assert diversity["final_minimum_distance"] is not None
    assert weights["candidates"]["min"] <= weights["selected"]["min"] <= weights["selected"]["max"]
    assert weights["selected"]["max"] <= weights["candidates"]["max"]

    folder = Path(result.run_folder)
    table = pq.read_table(folder / "selection.parquet")
    assert table.column_names == ["rank", "name", "s0_threshold", "s1_diversity_distance", "s2_weights"]
    assert table.column("rank").to_pylist() == list(range(1, passed + 1))
    names = table.column("name").to_pylist()
    assert sorted(names) == result.selected
    assert {name.split("/")[0] for name in names} == {f"group_{group}" for group in RED_GROUPS}
    assert all(value > 150 for value in table.column("s0_threshold").to_pylist())
    with (folder / "selection.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["name"] for row in rows] == names
    assert [float(row["s2_weights"]) for row in rows] == pytest.approx(table.column("s2_weights").to_pylist())
    assert set(selection["tableColumns"]) == set(table.column_names)
    assert (folder / "filenames" / "selected.txt").read_text().splitlines() == sorted(names)


def test_a_failed_run_leaves_its_error_at_the_end_of_its_log(grouped_input: Path, tmp_path: Path) -> None:
    nothing_red_enough = {**RED_THRESHOLD, "strategy": {**RED_THRESHOLD["strategy"], "threshold": 250}}
    with pytest.raises(NothingLeftError) as caught:
        _run(grouped_input, tmp_path / "lightly", [nothing_red_enough, DIVERSITY], 3)
    (folder,) = (tmp_path / "lightly" / ".lightly" / "runs").iterdir()
    assert not (folder / "_SUCCESS").exists()
    log = (folder / "log.txt").read_text()
    assert log.rstrip().endswith(user_message(caught.value))
    assert "strategies[0]: METADATA lightly.meanRed: keeps 0 of 30" in log


def test_a_failed_run_names_its_input_problems_in_its_log(grouped_input: Path, tmp_path: Path) -> None:
    """A failed run writes no report.json: the warning and log.txt name the skipped files."""
    lightly = tmp_path / "lightly"
    schema = [{"name": "Temp", "path": "temperature", "defaultValue": 0.0, "valueDataType": "NUMERIC_FLOAT"}]
    (lightly / ".lightly" / "metadata" / "group_1").mkdir(parents=True)
    (lightly / ".lightly" / "metadata" / "schema.json").write_text(json.dumps(schema))
    for index in range(3):
        sample = {
            "file_name": f"group_1/img_{index}.png",
            "type": "image",
            "metadata": {"temperature": "hot"},
        }
        (lightly / ".lightly" / "metadata" / "group_1" / f"img_{index}.json").write_text(json.dumps(sample))
    nothing_red_enough = {**RED_THRESHOLD, "strategy": {**RED_THRESHOLD["strategy"], "threshold": 250}}
    with pytest.raises(NothingLeftError):
        _run(grouped_input, lightly, [nothing_red_enough, DIVERSITY], 3)
    (folder,) = (lightly / ".lightly" / "runs").iterdir()
    assert not (folder / "report.json").exists()
    log = (folder / "log.txt").read_text()
    warning = next(line for line in log.splitlines() if "problems in .lightly/ inputs" in line)
    assert "3 problems" in warning and ".lightly/metadata/group_1/img_0.json: metadata.temperature" in warning
    assert "and 1 more; every one is listed in log.txt" in warning
    for index in range(3):
        assert f"input problem: .lightly/metadata/group_1/img_{index}.json: metadata.temperature" in log
