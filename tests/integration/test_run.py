"""End-to-end runs on a local Ray instance, on generated images whose right answer is known."""

from __future__ import annotations

import hashlib
import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

import lightly_ray
from lightly_ray.cli import main
from lightly_ray.errors import NotYetSupportedError
from lightly_ray.mapped_pages import is_mapped
from lightly_ray.outputs import finished_run_ids
from lightly_ray.pipeline import matrix_file
from lightly_ray.storage import Location
from tests.data.grouped_images import FAST_MODEL, GROUPS, PER_GROUP
from tests.data.seed_configs import SEED_CONFIGS

pytestmark = pytest.mark.usefixtures("ray_instance")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_diversity_picks_one_image_per_group(grouped_input: Path, tmp_path: Path) -> None:
    before = _tree_digest(grouped_input)
    result = lightly_ray.run(
        input=grouped_input,
        lightly=tmp_path / "lightly",
        selection_config={
            "n_samples": GROUPS,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    groups = sorted(name.split("/")[0] for name in result.selected)
    assert groups == [f"group_{group}" for group in range(GROUPS)]
    assert result.counts["nInput"] == GROUPS * PER_GROUP + 2
    assert result.counts["nCorrupt"] == 1
    assert result.counts["nDuplicate"] == 1
    assert result.counts["nSelected"] == GROUPS
    assert _tree_digest(grouped_input) == before, "the input location must never be written"

    folder = Path(result.run_folder)
    expected = {
        "config.json",
        "report.json",
        "log.txt",
        "embeddings.parquet",
        "corruptness_check_information.json",
        "filenames/selected.txt",
        "selection.parquet",
        "selection.csv",
        "filenames/corrupt.txt",
        "filenames/duplicate.txt",
        "duplicates.json",
        "thumbnails.parquet",
        "report.html",
        "_SUCCESS",
    }
    assert {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()} == expected
    report = result.report
    nearest = report["embeddingStatistics"]["nearestNeighbour"]["sets"]
    # one pick per group: the picks are farther apart than a random set of the same size
    assert nearest["selected"]["median"] > nearest["random"]["median"]
    cover = report["embeddingStatistics"]["coverDistance"]["sets"]
    assert cover["selected"]["count"] == cover["random"]["count"] == result.counts["nInput"] - 2
    assert {point["group"] for point in report["embeddingMap"]["points"]} == {"selected", "removed"}
    assert len(report["embeddingMap"]["points"]) == result.counts["nInput"] - 2
    assert [example["selected"] for example in report["examples"]] == picks_in_order(folder)
    assert all(example["closestRemoved"] not in result.selected for example in report["examples"])
    thumbnails = pq.read_table(folder / "thumbnails.parquet").column("name").to_pylist()
    assert set(thumbnails) == {point["name"] for point in report["embeddingMap"]["points"]}
    assert (folder / "filenames" / "selected.txt").read_text().splitlines() == result.selected
    picks = pq.read_table(folder / "selection.parquet")
    assert picks.column_names == ["rank", "name", "s0_diversity_distance"]
    assert picks.column("rank").to_pylist() == list(range(1, GROUPS + 1))
    assert sorted(picks.column("name").to_pylist()) == result.selected
    distances = picks.column("s0_diversity_distance").to_pylist()
    assert distances[0] is None and all(later <= earlier for earlier, later in pairwise(distances[1:]))
    assert (folder / "filenames" / "corrupt.txt").read_text() == "broken.jpg\n"
    assert (folder / "filenames" / "duplicate.txt").read_text() == "group_0/img_0_copy.png\n"
    corrupt = json.loads((folder / "corruptness_check_information.json").read_text())
    assert corrupt["corrupt_samples"] == ["broken.jpg"]
    assert corrupt["errors"]["broken.jpg"].startswith("OSError:")  # a JPEG header with no image behind it

    table = pq.read_table(folder / "embeddings.parquet")
    assert table.num_rows == GROUPS * PER_GROUP
    assert table.column("name").to_pylist() == sorted(table.column("name").to_pylist())
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    assert vectors.shape == (GROUPS * PER_GROUP, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    report = json.loads((folder / "report.json").read_text())
    assert report["datasetSizes"]["nSelected"] == GROUPS
    assert report["selection"]["stopReason"] == "budget"
    assert report["inputs"]["otherFiles"] == {".txt": 1}  # readme.txt: counted, not read
    assert set(report["stageTimings"]) >= {"listing", "embed", "inputs", "selection", "write"}
    config = json.loads((folder / "config.json").read_text())
    assert config["lightly_config"]["model"]["weights"] == "random"
    assert finished_run_ids(Location(str(tmp_path / "lightly"), writable=False)) == [result.run_id]


def test_a_run_with_the_matrix_mapped_from_disk(
    grouped_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every matrix is mapped here (a run maps those of 1 MB and more): selection, report, outputs."""
    mapped: list[bool] = []
    real_map = matrix_file.map_matrix

    def spy(path: Path, rows: int, dim: int) -> np.ndarray:
        matrix = real_map(path, rows, dim)
        mapped.append(is_mapped(matrix))
        return matrix

    monkeypatch.setattr(matrix_file, "SPILL_MIN_BYTES", 0)
    monkeypatch.setattr(matrix_file, "map_matrix", spy)
    result = lightly_ray.run(
        input=grouped_input,
        lightly=tmp_path / "lightly",
        selection_config={
            "n_samples": GROUPS,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    assert mapped == [True]
    assert sorted(name.split("/")[0] for name in result.selected) == [f"group_{g}" for g in range(GROUPS)]
    folder = Path(result.run_folder)
    table = pq.read_table(folder / "embeddings.parquet")
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    assert vectors.shape == (GROUPS * PER_GROUP, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    nearest = result.report["embeddingStatistics"]["nearestNeighbour"]["sets"]
    assert nearest["selected"]["median"] > nearest["random"]["median"]
    assert len(result.report["embeddingMap"]["points"]) == result.counts["nInput"] - 2


def test_minimum_distance_and_proportion(grouped_input: Path, tmp_path: Path) -> None:
    result = lightly_ray.run(
        grouped_input,
        tmp_path,
        config={
            "selection_config": {
                "proportion_samples": 1.0,
                "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
            },
            "lightly_config": FAST_MODEL,
        },
        overrides=["selection_config.strategies.0.strategy.stopping_condition_minimum_distance=0.1"],
        show_progress=False,
    )
    # Images of a group are ~0.01 apart, groups at least ~0.17: 0.1 keeps exactly one per group.
    assert sorted(name.split("/")[0] for name in result.selected) == [f"group_{g}" for g in range(GROUPS)]
    assert result.report["selection"]["stopReason"] == "stopping_condition_minimum_distance"
    assert result.report["selection"]["strategies"][0]["final_minimum_distance"] >= 0.1
    shortfall = result.report["selection"]["shortfall"]
    assert result.report["selection"]["requested"] == GROUPS * PER_GROUP
    assert shortfall["reason"] == "stopping_condition"
    assert "stopping_condition_minimum_distance" in shortfall["message"]


def test_cli_run_with_yaml_and_overrides(
    grouped_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump({**SEED_CONFIGS["visual_diversity"], "lightly_config": FAST_MODEL}))
    code = main(
        [
            "run",
            "--input",
            str(grouped_input),
            "--lightly",
            str(tmp_path / "out"),
            "--config",
            str(config_path),
            "--quiet",
            "--json",
            "selection_config.n_samples=3",
            "model.out_dim=24",
        ]
    )
    assert code == 0
    printed: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert printed["counts"]["nSelected"] == 3
    folder = Path(printed["run_folder"])
    assert pq.read_table(folder / "embeddings.parquet").schema.field("embedding").type.list_size == 24


def test_unsupported_feature_stops_before_any_work(grouped_input: Path, tmp_path: Path) -> None:
    with pytest.raises(NotYetSupportedError, match=r"lightly_config\.model\.width"):
        lightly_ray.run(
            grouped_input,
            tmp_path / "lightly",
            **SEED_CONFIGS["visual_diversity"],
            lightly_config={"model": {"width": 2}},
            show_progress=False,
        )
    assert not (tmp_path / "lightly").exists()


def test_cli_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = tmp_path / "run.yaml"
    config_path.write_text("selection_config:\n  n_sample: 3\n  strategies: []\n")
    assert main(["validate", str(config_path)]) == 2
    assert "did you mean 'n_samples'" in capsys.readouterr().err


def test_empty_input_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    with pytest.raises(lightly_ray.errors.StorageError, match="no image or video files"):
        lightly_ray.run(
            tmp_path / "in",
            tmp_path / "lightly",
            **SEED_CONFIGS["visual_diversity"],
            lightly_config=FAST_MODEL,
            show_progress=False,
        )


def test_relevant_filenames_limit_the_input(grouped_input: Path, tmp_path: Path) -> None:
    lightly = tmp_path / "lightly"
    (lightly / ".lightly").mkdir(parents=True)
    (lightly / ".lightly" / "relevant_filenames.txt").write_text(
        "group_1/img_0.png\ngroup_2/* group_2/img_[0-2].png !group_2/img_1.png\ngroup_4/img_9.png\n"
    )
    result = lightly_ray.run(
        grouped_input,
        lightly,
        **SEED_CONFIGS["visual_diversity"],
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    assert result.counts["nInput"] == 3
    assert result.selected == ["group_1/img_0.png", "group_2/img_0.png", "group_2/img_2.png"]
    log = (Path(result.run_folder) / "log.txt").read_text()
    assert "1 listed file is not in the input (e.g. group_4/img_9.png)" in log
    assert "found 3 image files and 0 video files that .lightly/relevant_filenames.txt keeps" in log


def test_embeddings_csv_replaces_the_model(grouped_input: Path, tmp_path: Path) -> None:
    from lightly_ray.formats.embeddings_csv import write_embeddings_csv

    lightly = Location(str(tmp_path / "lightly"), writable=True)
    names = [f"group_{g}/img_{m}.png" for g in range(GROUPS) for m in range(PER_GROUP)] + ["gone.png"]
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(GROUPS, 8))
    groups = [min(index // PER_GROUP, GROUPS - 1) for index in range(len(names))]
    vectors = np.stack([centres[group] + 0.01 * rng.normal(size=8) for group in groups])
    write_embeddings_csv(lightly, "embeddings/precomputed.csv", names, vectors.astype(np.float32))
    result = lightly_ray.run(
        grouped_input,
        tmp_path / "lightly",
        **SEED_CONFIGS["visual_diversity"],
        overrides=["selection_config.n_samples=5", "worker_config.embeddings=embeddings/precomputed.csv"],
        show_progress=False,
    )
    assert sorted(name.split("/")[0] for name in result.selected) == [f"group_{g}" for g in range(GROUPS)]
    source = result.report["embedding"]
    assert source["source"] == "csv" and source["dim"] == 8
    assert source["rowsNotInInput"] == 1 and source["rowsNotInInputExamples"] == ["gone.png"]
    # broken.jpg and the duplicate copy have no row: left out and counted.
    assert source["inputWithoutEmbedding"] == 2
    assert result.counts["nInput"] == GROUPS * PER_GROUP


def test_prediction_and_metadata_problems_are_reported(grouped_input: Path, tmp_path: Path) -> None:
    lightly = Location(str(tmp_path / "lightly"), writable=True)
    lightly.write_bytes(".lightly/predictions/tasks.json", b'["weather"]')
    schema = {
        "task_type": "classification",
        "categories": [{"id": 0, "name": "sun"}, {"id": 1, "name": "rain"}],
    }
    lightly.write_bytes(".lightly/predictions/weather/schema.json", json.dumps(schema).encode())
    good = {
        "file_name": "group_0/img_1.png",
        "predictions": [{"category_id": 0, "probabilities": [0.9, 0.1]}],
    }
    bad = {"file_name": "group_0/img_2.png", "predictions": [{"category_id": 7, "probabilities": [0.9, 0.1]}]}
    lightly.write_bytes(".lightly/predictions/weather/group_0/img_1.json", json.dumps(good).encode())
    lightly.write_bytes(".lightly/predictions/weather/group_0/img_2.json", json.dumps(bad).encode())
    metadata_schema = [
        {"name": "Temp", "path": "temperature", "defaultValue": 0.0, "valueDataType": "NUMERIC_FLOAT"}
    ]
    lightly.write_bytes(".lightly/metadata/schema.json", json.dumps(metadata_schema).encode())
    sample = {"file_name": "group_1/img_0.png", "type": "image", "metadata": {"temperature": "hot"}}
    lightly.write_bytes(".lightly/metadata/group_1/img_0.json", json.dumps(sample).encode())
    result = lightly_ray.run(
        grouped_input,
        tmp_path / "lightly",
        **SEED_CONFIGS["visual_diversity"],
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    inputs = result.report["inputs"]
    weather = inputs["predictions"]["weather"]
    assert (weather["files"], weather["validFiles"], weather["nProblems"]) == (2, 1, 1)
    assert weather["problems"][0].startswith(
        ".lightly/predictions/weather/group_0/img_2.json: predictions[0].category_id"
    )
    assert inputs["metadata"]["nProblems"] == 1
    assert "temperature" in inputs["metadata"]["problems"][0]


def picks_in_order(folder: Path) -> list[str]:
    return [str(name) for name in pq.read_table(folder / "selection.parquet").column("name").to_pylist()]
