"""End-to-end runs with the selection engine's inputs: thresholds, metadata, scores, balance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import lightly_ray
from lightly_ray.selection.engine import NothingLeftError
from lightly_ray.storage import Location
from tests.data.grouped_images import FAST_MODEL, GROUPS, PER_GROUP

pytestmark = pytest.mark.usefixtures("ray_instance")
DIVERSITY = {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}


def _run(grouped_input: Path, lightly: Path, n_samples: int, *strategies: dict[str, Any]) -> Any:
    return lightly_ray.run(
        grouped_input,
        lightly,
        selection_config={"n_samples": n_samples, "strategies": [DIVERSITY, *strategies]},
        lightly_config=FAST_MODEL,
        show_progress=False,
    )


def test_threshold_on_lightly_metadata(grouped_input: Path, tmp_path: Path) -> None:
    # Groups 0 and 3 are the red ones (red channel 200): only they pass meanRed > 150.
    threshold = {
        "input": {"type": "METADATA", "key": "lightly.meanRed"},
        "strategy": {"type": "THRESHOLD", "threshold": 150, "operation": "BIGGER"},
    }
    result = _run(grouped_input, tmp_path, 2, threshold)
    assert sorted(name.split("/")[0] for name in result.selected) == ["group_0", "group_3"]


def test_custom_metadata_threshold_and_balance(grouped_input: Path, tmp_path: Path) -> None:
    lightly = Location(str(tmp_path), writable=True)
    schema = [
        {"name": "T", "path": "weather.temperature", "defaultValue": 0.0, "valueDataType": "NUMERIC_FLOAT"},
        {"name": "W", "path": "weather.kind", "defaultValue": "dry", "valueDataType": "CATEGORICAL_STRING"},
    ]
    lightly.write_bytes(".lightly/metadata/schema.json", json.dumps(schema).encode())
    for group in range(GROUPS):
        for member in range(PER_GROUP):
            name = f"group_{group}/img_{member}.png"
            weather = {"temperature": 25.0 if group >= 2 else 5.0, "kind": "wet" if member < 2 else "dry"}
            sample = {"file_name": name, "type": "image", "metadata": {"weather": weather}}
            lightly.write_bytes(
                f".lightly/metadata/group_{group}/img_{member}.json", json.dumps(sample).encode()
            )
    warm = {
        "input": {"type": "METADATA", "key": "weather.temperature"},
        "strategy": {"type": "THRESHOLD", "threshold": 20, "operation": "BIGGER_EQUAL"},
    }
    balance = {
        "input": {"type": "METADATA", "key": "weather.kind"},
        "strategy": {"type": "BALANCE", "target": {"wet": 1.0}, "strength": 10.0},
    }
    result = _run(grouped_input, tmp_path, 3, warm, balance)
    assert {name.split("/")[0] for name in result.selected} <= {"group_2", "group_3", "group_4"}
    # Balance towards "wet" (members 0 and 1) dominates diversity at strength 10.
    assert all(name.split("/")[1] in ("img_0.png", "img_1.png") for name in result.selected)
    reports = result.report["selection"]["strategies"]
    assert [report["strategy"] for report in reports] == ["DIVERSITY", "THRESHOLD", "BALANCE"]
    warm_groups = GROUPS - 2
    assert (reports[1]["nPassed"], reports[1]["nLeft"]) == (warm_groups * PER_GROUP, warm_groups * PER_GROUP)
    assert reports[2]["target"]["wet"] == 1.0


def test_threshold_that_removes_everything_names_itself(grouped_input: Path, tmp_path: Path) -> None:
    threshold = {
        "input": {"type": "METADATA", "key": "lightly.width"},
        "strategy": {"type": "THRESHOLD", "threshold": 10_000, "operation": "BIGGER"},
    }
    with pytest.raises(NothingLeftError, match=r"lightly\.width"):
        _run(grouped_input, tmp_path, 2, threshold)


def test_unknown_metadata_key_lists_the_available_ones(grouped_input: Path, tmp_path: Path) -> None:
    weights = {"input": {"type": "METADATA", "key": "lightly.sharpnes"}, "strategy": {"type": "WEIGHTS"}}
    with pytest.raises(lightly_ray.errors.LightlyRayError, match="sharpness"):
        _run(grouped_input, tmp_path, 2, weights)


def test_embeddings_over_the_driver_memory_budget_are_selected_on_sharded_actors(
    grouped_input: Path, tmp_path: Path
) -> None:
    on_driver = _run(grouped_input, tmp_path / "driver", 7)
    sharded = lightly_ray.run(
        grouped_input,
        tmp_path / "sharded",
        selection_config={"n_samples": 7, "strategies": [DIVERSITY]},
        lightly_config=FAST_MODEL,
        resources={"selection": {"driver_memory_gb": 1e-6, "shards": 3}},  # 1 kB: any run exceeds it
        show_progress=False,
    )
    placement = sharded.report["selection"]["placement"]
    assert placement["where"] == "sharded" and placement["shards"] == 3
    assert "resources.selection.driver_memory_gb" in placement["reason"]
    assert on_driver.report["selection"]["placement"]["where"] == "driver-cpu"
    # The same picks in the same order, with the same distances at pick time.
    expected = pq.read_table(Path(on_driver.run_folder) / "selection.parquet").to_pydict()
    picked = pq.read_table(Path(sharded.run_folder) / "selection.parquet").to_pydict()
    assert picked["name"] == expected["name"] and len(picked["name"]) == 7
    assert picked.keys() == expected.keys()
    for column in set(expected) - {"name", "rank"}:
        assert picked[column] == pytest.approx(expected[column], nan_ok=True), column
    assert sharded.selected == on_driver.selected
