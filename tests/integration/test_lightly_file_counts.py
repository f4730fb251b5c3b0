"""report.json counts every prediction and metadata file once: valid, a problem, or not read and why.

A new user's trial: a corrupt JPEG, an exact duplicate and files the relevant filenames leave out
each have prediction and metadata files. Those files are there in the input, so they are no
problem ("none has the path" would send the user looking for a file that exists); the report
counts them by reason. A datapool rerun does not read the files of unchanged input files (an
invalid one was reported by the first run) and counts them too, so the numbers add up.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import lightly_ray
from tests.data.grouped_images import FAST_MODEL

pytestmark = pytest.mark.usefixtures("ray_instance")

TASK = ".lightly/predictions/my_task"
SELECTION = {
    "n_samples": 2,
    "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
}


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()[:200]


def _write(root: Path, path: str, content: Any) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())


def _sample_files(lightly: Path, name: str) -> None:
    stem = name.rsplit(".", 1)[0]
    prediction = {"category_id": 0, "probabilities": [0.7, 0.3]}
    _write(lightly, f"{TASK}/{stem}.json", {"file_name": name, "predictions": [prediction]})
    _write(
        lightly,
        f".lightly/metadata/{stem}.json",
        {"file_name": name, "type": "image", "metadata": {"w": 1.0}},
    )


def _run(input_folder: Path, lightly: Path) -> dict[str, Any]:
    result = lightly_ray.run(
        input_folder,
        lightly,
        selection_config=SELECTION,
        lightly_config=FAST_MODEL,
        worker_config={"use_datapool": True},
        dataset="trial",
        show_progress=False,
    )
    inputs: dict[str, Any] = result.report["inputs"]
    return inputs


def _adds_up(task: dict[str, Any], metadata: dict[str, Any]) -> None:
    assert task["files"] == task["validFiles"] + task["nProblems"] + sum(task["filesNotRead"].values())
    assert metadata["files"] == (
        metadata["filesRead"] + metadata["filesSkipped"] + sum(metadata["filesNotRead"].values())
    )


def test_files_of_input_files_not_selected_from_are_counted_by_reason(tmp_path: Path) -> None:
    input_folder, lightly = tmp_path / "input", tmp_path / "lightly"
    photos = [f"photos/img{index}.png" for index in range(4)]
    for index, name in enumerate(photos):
        _write(input_folder, name, _png(index))
    _write(input_folder, "photos/zz_copy.png", _png(0))  # sorts after img0.png: the duplicate
    _write(input_folder, "photos/broken.jpg", _truncated_jpeg())
    _write(input_folder, "new/cat.png", _png(9))
    _write(lightly, ".lightly/relevant_filenames.txt", b"photos/*\n")
    _write(lightly, ".lightly/predictions/tasks.json", ["my_task"])
    categories = [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]
    _write(lightly, f"{TASK}/schema.json", {"task_type": "classification", "categories": categories})
    field = {"name": "w", "path": "w", "defaultValue": 0.0, "valueDataType": "NUMERIC_FLOAT"}
    _write(lightly, ".lightly/metadata/schema.json", [field])
    for name in [*photos, "photos/zz_copy.png", "photos/broken.jpg", "new/cat.png", "photos/ghost.png"]:
        _sample_files(lightly, name)
    _write(lightly, f"{TASK}/photos/img3.json", b"{not json")  # 'moon.json' of the trial

    first = _run(input_folder, lightly)

    task, metadata = first["predictions"]["my_task"], first["metadata"]
    assert task["filesNotRead"] == {"corrupt": 1, "duplicate": 1, "notRelevant": 1}
    assert (task["files"], task["validFiles"], task["nProblems"]) == (8, 3, 2)
    assert [problem.split(":")[0] for problem in task["problems"]] == [
        f"{TASK}/photos/ghost.json",
        f"{TASK}/photos/img3.json",
    ]
    assert metadata["filesNotRead"] == {"corrupt": 1, "duplicate": 1, "notRelevant": 1}
    assert metadata["problems"] == [
        ".lightly/metadata/photos/ghost.json: expected a file of an input sample or video, but none has the "
        "path without extension 'photos/ghost'; the file is ignored"
    ]
    _adds_up(task, metadata)

    for index in (4, 5):
        _write(input_folder, f"photos/img{index}.png", _png(index))
        _sample_files(lightly, f"photos/img{index}.png")

    rerun = _run(input_folder, lightly)

    task, metadata = rerun["predictions"]["my_task"], rerun["metadata"]
    assert task["files"] == 10
    assert task["filesNotRead"]["notRelevant"] == 1
    # The dataset's 2 samples and the 2 new ones are read; every other input file is unchanged.
    assert task["validFiles"] + task["nProblems"] == 4 + 1  # and photos/ghost.json, a problem again
    assert task["filesNotRead"]["unchangedDatapool"] == 10 - 1 - 5
    _adds_up(task, metadata)


def test_files_of_input_files_an_embeddings_csv_has_no_row_for_are_not_read(tmp_path: Path) -> None:
    input_folder, lightly = tmp_path / "input", tmp_path / "lightly"
    photos = [f"photos/img{index}.png" for index in range(4)]
    for index, name in enumerate(photos):
        _write(input_folder, name, _png(index))
        _sample_files(lightly, name)
    _write(lightly, ".lightly/predictions/tasks.json", ["my_task"])
    categories = [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]
    _write(lightly, f"{TASK}/schema.json", {"task_type": "classification", "categories": categories})
    field = {"name": "w", "path": "w", "defaultValue": 0.0, "valueDataType": "NUMERIC_FLOAT"}
    _write(lightly, ".lightly/metadata/schema.json", [field])
    rows = "".join(f"{name},{index}.0,1.0,0\n" for index, name in enumerate(photos[:3]))
    _write(lightly, ".lightly/embeddings.csv", f"filenames,embedding_0,embedding_1,labels\n{rows}".encode())

    result = lightly_ray.run(
        input_folder,
        lightly,
        selection_config=SELECTION,
        worker_config={"embeddings": ".lightly/embeddings.csv"},
        show_progress=False,
    )

    task = result.report["inputs"]["predictions"]["my_task"]
    assert task["filesNotRead"] == {"notEmbedded": 1}, "photos/img3.png has no row: it is no sample"
    assert (task["files"], task["validFiles"], task["nProblems"]) == (4, 3, 0)
    assert result.report["inputs"]["metadata"]["filesNotRead"] == {"notEmbedded": 1}
