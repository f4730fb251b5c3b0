"""The run's .lightly/ inputs read for its pool of samples (formats/lightly_inputs.py)."""

from __future__ import annotations

import pytest

from lightly_ray.config.run_config import RunConfig
from lightly_ray.formats.lightly_inputs import read_lightly_inputs
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
