"""The run's .lightly/ inputs read for its pool of samples (formats/lightly_inputs.py)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lightly_ray.config.run_config import RunConfig
from lightly_ray.formats.lightly_inputs import read_lightly_inputs
from lightly_ray.formats.relevant_filenames import parse_relevant_filenames
from lightly_ray.formats.sample_files import OtherInputFiles, UnreadInputs
from lightly_ray.storage import Location

from .conftest import write_json

CONFIG = RunConfig.model_validate(
    {
        "selection_config": {
            "n_samples": 1,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        }
    }
)
SCHEMA = [{"name": "Cars", "path": "count", "defaultValue": 0, "valueDataType": "NUMERIC_INT"}]


@pytest.fixture
def with_metadata(lightly: Location) -> Location:
    write_json(lightly, ".lightly/metadata/schema.json", SCHEMA)
    for name, count in (("a.png", 1), ("c.png", 3), ("v/clip.mp4", 7)):
        stem = name.rsplit(".", 1)[0]
        content = {
            "file_name": name,
            "type": "video" if name.endswith("mp4") else "image",
            "metadata": {"count": count},
        }
        write_json(lightly, f".lightly/metadata/{stem}.json", content)
    return lightly


def test_sorted_names_are_read_as_they_are_and_others_in_name_order(with_metadata: Location) -> None:
    names = ["a.png", "b.png", "c.png", "v/clip-000002.png"]
    videos = [None, None, None, "v/clip.mp4"]
    inputs = read_lightly_inputs(with_metadata, CONFIG, names, videos)
    assert inputs.metadata is not None
    assert inputs.metadata.sample_names is names  # the pool's sorted list: no reordered copy
    assert inputs.metadata.columns["count"].tolist() == [1, 0, 3, 7]  # the frame inherits its video's

    shuffled = [3, 1, 0, 2]
    again = read_lightly_inputs(
        with_metadata, CONFIG, [names[i] for i in shuffled], [videos[i] for i in shuffled]
    )
    assert again.metadata is not None
    assert again.metadata.sample_names == names  # read in name order
    assert again.metadata.columns["count"].tolist() == [1, 0, 3, 7]


def test_the_report_counts_every_file_once_and_names_only_files_of_no_input_file(lightly: Location) -> None:
    """Files of input files the run does not select from are no problem (the trial's 'broken.jpg')."""
    write_json(lightly, ".lightly/metadata/schema.json", SCHEMA)
    write_json(lightly, ".lightly/predictions/tasks.json", ["my_task"])
    write_json(
        lightly,
        ".lightly/predictions/my_task/schema.json",
        {"task_type": "object-detection", "categories": [{"id": 0, "name": "car"}]},
    )
    for name in ("photos/a.png", "photos/broken.jpg", "photos/ghost.png", "new/cat.png", "clips/drive.mp4"):
        stem = name.rsplit(".", 1)[0]
        sample_type = "video" if name.endswith(".mp4") else "image"
        write_json(
            lightly, f".lightly/predictions/my_task/{stem}.json", {"file_name": name, "predictions": []}
        )
        write_json(
            lightly,
            f".lightly/metadata/{stem}.json",
            {"file_name": name, "type": sample_type, "metadata": {}},
        )
    lightly.write_bytes(".lightly/predictions/my_task/photos/moon.json", b"{")
    corrupt = UnreadInputs(
        [("corrupt", OtherInputFiles(pa.array(["photos/broken.jpg"])))],
        relevant=parse_relevant_filenames("photos/*\n"),
    )

    report = read_lightly_inputs(
        lightly, CONFIG, ["photos/a.png", "photos/moon.png"], elsewhere=corrupt
    ).report()

    task = report["predictions"]["my_task"]
    assert (task["files"], task["validFiles"], task["nProblems"]) == (6, 1, 2)
    assert task["filesNotRead"] == {"corrupt": 1, "notRelevant": 2}
    assert task["files"] == task["validFiles"] + task["nProblems"] + sum(task["filesNotRead"].values())
    metadata = report["metadata"]
    assert (metadata["files"], metadata["filesRead"], metadata["filesSkipped"]) == (5, 1, 1)
    assert metadata["filesNotRead"] == {"corrupt": 1, "notRelevant": 2}
    assert metadata["problems"] == [
        ".lightly/metadata/photos/ghost.json: expected a file of an input sample or video, but none has the "
        "path without extension 'photos/ghost'; the file is ignored"
    ]
    assert task["problems"][0].startswith(".lightly/predictions/my_task/photos/ghost.json: expected a file")
