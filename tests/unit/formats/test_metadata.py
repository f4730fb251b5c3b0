from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray.errors import InputFormatError
from lightly_ray.formats.metadata import read_metadata
from lightly_ray.formats.metadata_schema import (
    MetadataField,
    MetadataType,
    parse_metadata_schema,
    read_metadata_schema,
)
from lightly_ray.formats.problems import FieldError
from lightly_ray.formats.sample_files import OtherInputFiles, UnreadInputs
from lightly_ray.storage import Location

from .conftest import write_json

SCHEMA = [
    {
        "name": "Weather",
        "path": "weather.description",
        "defaultValue": "unknown",
        "valueDataType": "CATEGORICAL_STRING",
    },
    {
        "name": "Temperature",
        "path": "weather.temperature",
        "defaultValue": 20,
        "valueDataType": "NUMERIC_FLOAT",
    },
    {"name": "Cars", "path": "count", "defaultValue": 0, "valueDataType": "NUMERIC_INT"},
    {"name": "Camera", "path": "camera_id", "defaultValue": -1, "valueDataType": "CATEGORICAL_INT"},
    {"name": "Night", "path": "night", "defaultValue": False, "valueDataType": "CATEGORICAL_BOOLEAN"},
]


@pytest.fixture
def with_schema(lightly: Location) -> Location:
    write_json(lightly, ".lightly/metadata/schema.json", SCHEMA)
    return lightly


def image_file(name: str, metadata: Any, sample_type: str = "image") -> dict[str, Any]:
    return {"file_name": name, "type": sample_type, "metadata": metadata}


def test_schema_is_parsed(with_schema: Location) -> None:
    fields = read_metadata_schema(with_schema)
    assert fields is not None
    assert fields[1] == MetadataField(
        name="Temperature", path="weather.temperature", value_type=MetadataType.NUMERIC_FLOAT, default=20.0
    )
    assert [field.value_type.is_numeric for field in fields] == [False, True, True, False, False]


def test_no_schema_no_columns(lightly: Location) -> None:
    assert read_metadata_schema(lightly) is None
    result = read_metadata(lightly, ["a.png"])
    assert result.columns == {}
    assert result.fields == []


def test_values_defaults_and_type_problems(with_schema: Location) -> None:
    write_json(
        with_schema,
        ".lightly/metadata/subdir/image_1.json",
        image_file(
            "subdir/image_1.png",
            {"weather": {"description": "rainy", "temperature": 10.5}, "count": 3, "x": 1},
        ),
    )
    write_json(
        with_schema,
        ".lightly/metadata/image_2.json",
        image_file(
            "image_2.png", {"weather": {"temperature": "warm"}, "count": 2.0, "camera_id": 4, "night": True}
        ),
    )
    write_json(
        with_schema,
        ".lightly/metadata/image_3.json",
        image_file("image_3.png", {"weather": "sunny", "night": None}),
    )

    result = read_metadata(with_schema, ["subdir/image_1.png", "image_2.png", "image_3.png", "image_4.png"])

    assert list(result.columns) == [
        "weather.description",
        "weather.temperature",
        "count",
        "camera_id",
        "night",
    ]
    assert result.columns["weather.description"].tolist() == ["rainy", "unknown", "unknown", "unknown"]
    assert result.columns["weather.temperature"].dtype == np.float64
    assert result.columns["weather.temperature"].tolist() == [10.5, 20.0, 20.0, 20.0]
    assert result.columns["count"].tolist() == [3.0, 2.0, 0.0, 0.0]
    assert result.columns["camera_id"].dtype == object
    assert result.columns["camera_id"].tolist() == [-1, 4, -1, -1]
    assert result.columns["night"].tolist() == [False, True, False, False]
    assert result.n_files_read == 3
    assert [str(problem) for problem in result.problems] == [
        ".lightly/metadata/image_2.json: metadata.weather.temperature: "
        'expected a number (NUMERIC_FLOAT), got "warm"',
        ".lightly/metadata/image_3.json: metadata.weather: expected an object holding 'description' "
        """(for the schema path 'weather.description'), got "sunny\"""",
        ".lightly/metadata/image_3.json: metadata.weather: expected an object holding 'temperature' "
        """(for the schema path 'weather.temperature'), got "sunny\"""",
    ]


def test_frames_inherit_video_metadata_and_override_it(with_schema: Location) -> None:
    write_json(
        with_schema,
        ".lightly/metadata/clips/a.json",
        image_file(
            "clips/a.mp4", {"weather": {"description": "foggy", "temperature": 5}, "camera_id": 7}, "video"
        ),
    )
    write_json(
        with_schema,
        ".lightly/metadata/clips/a-001-mp4.json",
        image_file("clips/a-001-mp4.png", {"weather": {"description": "clear"}, "count": 4}, "frame"),
    )
    frames = ["clips/a-000-mp4.png", "clips/a-001-mp4.png", "clips/b-000-avi.png", "img.png"]
    videos = ["clips/a.mp4", "clips/a.mp4", "clips/b.avi", None]

    result = read_metadata(with_schema, frames, videos)

    assert result.problems == []
    assert result.columns["weather.description"].tolist() == ["foggy", "clear", "unknown", "unknown"]
    assert result.columns["weather.temperature"].tolist() == [5.0, 5.0, 20.0, 20.0]
    assert result.columns["count"].tolist() == [0.0, 4.0, 0.0, 0.0]
    assert result.columns["camera_id"].tolist() == [7, 7, -1, -1]


def test_frame_falls_back_to_video_when_its_own_value_is_invalid(with_schema: Location) -> None:
    write_json(with_schema, ".lightly/metadata/v.json", image_file("v.mov", {"count": 9}, "video"))
    write_json(
        with_schema, ".lightly/metadata/v-0-mov.json", image_file("v-0-mov.png", {"count": "many"}, "frame")
    )
    result = read_metadata(with_schema, ["v-0-mov.png"], ["v.mov"])
    assert result.columns["count"].tolist() == [9.0]
    assert [(problem.file, problem.key) for problem in result.problems] == [
        (".lightly/metadata/v-0-mov.json", "metadata.count")
    ]


@pytest.mark.parametrize(
    ("content", "key", "message"),
    [
        ({"file_name": "a.png", "metadata": {}}, "type", "expected this key, but it is missing"),
        (image_file("a.png", {}, "picture"), "type", 'expected one of image, video, frame, got "picture"'),
        (image_file("a.png", {}, "frame"), "type", "expected 'image' for 'a.png', got 'frame'"),
        (image_file("a.png", []), "metadata", "expected an object, got a list of 0 items"),
        (
            image_file("a.jpg", {}),
            "file_name",
            "expected the name of an input sample or video ('a.png'), got 'a.jpg'",
        ),
        (image_file("../a.png", {}), "file_name", None),
        (
            {**image_file("a.png", {}), "extra": 1},
            "extra",
            "unknown key; expected one of 'file_name', 'type', 'metadata'",
        ),
    ],
)
def test_invalid_files_are_skipped(
    with_schema: Location, content: Any, key: str, message: str | None
) -> None:
    write_json(with_schema, ".lightly/metadata/a.json", content)
    result = read_metadata(with_schema, ["a.png"])
    assert result.columns["count"].tolist() == [0.0]
    assert result.n_files_read == 0
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert (problem.file, problem.key) == (".lightly/metadata/a.json", key)
    if message is not None:
        assert problem.message == message
    else:
        assert "unsafe path" in problem.message


def test_file_of_no_sample_is_reported(with_schema: Location) -> None:
    write_json(with_schema, ".lightly/metadata/other.json", image_file("other.png", {"count": 1}))
    result = read_metadata(with_schema, ["a.png"])
    assert [str(problem) for problem in result.problems] == [
        ".lightly/metadata/other.json: expected a file of an input sample or video, but none has the path "
        "without extension 'other'; the file is ignored"
    ]


def test_files_of_input_files_not_selected_from_are_counted_not_reported(with_schema: Location) -> None:
    for name in ("a.png", "broken.jpg", "copy.png", "clips/bad.mp4", "other.png"):
        sample_type = "video" if name.endswith(".mp4") else "image"
        path = f".lightly/metadata/{name.rsplit('.', 1)[0]}.json"
        write_json(with_schema, path, image_file(name, {"count": 1}, sample_type))
    with_schema.write_bytes(".lightly/metadata/b.json", b"[")
    write_json(with_schema, ".lightly/metadata/c.json", image_file("c.png", {"count": "many"}))
    unread = UnreadInputs(
        [
            ("corrupt", OtherInputFiles(pa.array(["broken.jpg", "clips/bad.mp4"]))),
            ("duplicate", OtherInputFiles(pa.array(["copy.png"]))),
        ]
    )

    result = read_metadata(with_schema, ["a.png", "b.png", "c.png"], elsewhere=unread)

    assert (result.n_files, result.n_files_read, result.n_files_skipped) == (7, 2, 2)
    assert result.not_read == {"corrupt": 2, "duplicate": 1}
    assert result.n_files == result.n_files_read + result.n_files_skipped + sum(result.not_read.values())
    assert [(problem.file, problem.key) for problem in result.problems] == [
        (".lightly/metadata/other.json", ""),
        (".lightly/metadata/b.json", ""),
        (".lightly/metadata/c.json", "metadata.count"),
    ]


def test_video_names_must_align(with_schema: Location) -> None:
    with pytest.raises(ValueError, match="got 1 video names for 2 samples"):
        read_metadata(with_schema, ["a.png", "b.png"], [None])


def entry(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "T",
        "path": "weather.temperature",
        "defaultValue": 1.5,
        "valueDataType": "NUMERIC_FLOAT",
        **overrides,
    }


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ({}, "", "expected a list of metadata fields, got an object"),
        ([{"name": "T"}], "[0].path", "expected this key, but it is missing"),
        (
            [entry(valueDataType="NUMERIC")],
            "[0].valueDataType",
            "expected one of NUMERIC_INT, NUMERIC_FLOAT, CATEGORICAL_INT, CATEGORICAL_STRING, "
            "CATEGORICAL_BOOLEAN, "
            'got "NUMERIC"',
        ),
        ([entry(defaultValue="x")], "[0].defaultValue", 'expected a number (NUMERIC_FLOAT), got "x"'),
        ([entry(defaultValue=True)], "[0].defaultValue", "expected a number (NUMERIC_FLOAT), got true"),
        (
            [entry(valueDataType="NUMERIC_INT", defaultValue=1.5)],
            "[0].defaultValue",
            "expected an integer (NUMERIC_INT), got 1.5",
        ),
        (
            [entry(valueDataType="CATEGORICAL_BOOLEAN", defaultValue=0)],
            "[0].defaultValue",
            "expected true or false (CATEGORICAL_BOOLEAN), got 0",
        ),
        (
            [entry(valueDataType="CATEGORICAL_STRING", defaultValue=1)],
            "[0].defaultValue",
            "expected a string (CATEGORICAL_STRING), got 1",
        ),
        (
            [entry(path="lightly.sharpness")],
            "[0].path",
            """expected a path that does not start with 'lightly' (reserved), got "lightly.sharpness\"""",
        ),
        (
            [entry(path="weather..x")],
            "[0].path",
            """expected a dotted path of non-empty names such as 'weather.description', got "weather..x\"""",
        ),
        ([entry(), entry()], "[1].path", 'expected unique paths, got "weather.temperature" also at [0]'),
        (
            [entry(), entry(path="weather", valueDataType="CATEGORICAL_STRING", defaultValue="x")],
            "[1].path",
            "expected paths of which none is the parent of another, "
            'got "weather" and "weather.temperature" at [0]',
        ),
    ],
)
def test_schema_errors(data: Any, key: str, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_metadata_schema(data)
    assert (caught.value.key, caught.value.message) == (key, message)


def test_schema_error_names_the_file(lightly: Location) -> None:
    write_json(lightly, ".lightly/metadata/schema.json", [entry(path="lightlyness")])
    with pytest.raises(
        InputFormatError, match=r"^\.lightly/metadata/schema\.json: \[0\]\.path: expected a path"
    ):
        read_metadata(lightly, ["a.png"])
