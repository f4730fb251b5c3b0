from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from lightly_ray.errors import InputFormatError
from lightly_ray.formats.prediction_items import Prediction
from lightly_ray.formats.predictions import read_task_predictions, require_predictions
from lightly_ray.formats.sample_files import OtherInputFiles, UnreadInputs
from lightly_ray.storage import Location

from .conftest import write_json

TASK = ".lightly/predictions/vehicles"


def box(category_id: int, score: float) -> dict[str, Any]:
    return {"category_id": category_id, "bbox": [1, 2, 3, 4], "score": score}


@pytest.fixture
def vehicles(lightly: Location) -> Location:
    write_json(lightly, ".lightly/predictions/tasks.json", ["vehicles"])
    write_json(
        lightly,
        f"{TASK}/schema.json",
        {
            "task_type": "object-detection",
            "categories": [{"id": 0, "name": "car"}, {"id": 1, "name": "truck"}],
        },
    )
    return lightly


def test_valid_invalid_and_missing_files(vehicles: Location) -> None:
    write_json(
        vehicles,
        f"{TASK}/image_1.json",
        {"file_name": "image_1.png", "predictions": [box(1, 0.8), box(0, 0.9)]},
    )
    write_json(
        vehicles, f"{TASK}/subdir/image_2.json", {"file_name": "subdir/image_2.png", "predictions": []}
    )
    write_json(
        vehicles,
        f"{TASK}/subdir/image_3.json",
        {"file_name": "subdir/image_3.png", "predictions": [box(5, 0.5)]},
    )
    vehicles.write_bytes(f"{TASK}/image_4.json", b"{not json")
    names = {"image_1.png", "subdir/image_2.png", "subdir/image_3.png", "image_4.png", "image_5.png"}

    result = read_task_predictions(vehicles, "vehicles", names)

    assert result.schema.category_names == ("car", "truck")
    assert result.n_files == 4
    assert result.n_valid_files == 2
    assert result.for_sample("image_1.png") == [
        Prediction(category_id=1, score=0.8, bbox=(1.0, 2.0, 3.0, 4.0)),
        Prediction(category_id=0, score=0.9, bbox=(1.0, 2.0, 3.0, 4.0)),
    ]
    assert result.for_sample("subdir/image_2.png") == []
    assert result.for_sample("image_5.png") == []  # no file: no predictions, no problem
    assert result.for_sample("subdir/image_3.png") == []  # invalid: skipped
    assert [(problem.file, problem.key) for problem in result.problems] == [
        (f"{TASK}/image_4.json", ""),
        (f"{TASK}/subdir/image_3.json", "predictions[0].category_id"),
    ]
    assert str(result.problems[1]) == (
        f"{TASK}/subdir/image_3.json: predictions[0].category_id: "
        "expected a category id of the task's schema (0, 1), got 5"
    )
    assert str(result.problems[0]).startswith(
        f"{TASK}/image_4.json: expected valid JSON, got a syntax error at line 1"
    )
    require_predictions(result)  # some valid files: usable

    table = result.to_table()
    assert table.num_rows == 2
    assert table.column("sample").to_pylist() == ["image_1.png", "image_1.png"]
    assert table.column("bbox").to_pylist()[0] == [1.0, 2.0, 3.0, 4.0]
    assert table.column("segmentation").to_pylist() == [None, None]


def test_file_name_matching_no_sample_is_reported(vehicles: Location) -> None:
    write_json(vehicles, f"{TASK}/image_1.json", {"file_name": "image_1.png", "predictions": [box(0, 0.5)]})
    write_json(vehicles, f"{TASK}/a.json", {"file_name": "a.jpg", "predictions": []})
    write_json(vehicles, f"{TASK}/old/gone.json", {"file_name": "old/gone.png", "predictions": []})

    result = read_task_predictions(vehicles, "vehicles", ["image_1.png", "a.png"])

    assert result.n_valid_files == 1
    assert [str(problem) for problem in result.problems] == [
        f"{TASK}/a.json: file_name: expected the name of an input sample, "
        "got 'a.jpg' which is not in the input",
        f"{TASK}/old/gone.json: expected a file of an input sample, but no input sample has the path without "
        "extension 'old/gone'; the file is ignored",
    ]


def test_files_of_input_files_the_run_does_not_read_are_neither_read_nor_reported(vehicles: Location) -> None:
    for stem in ("new", "old", "clips/b-07-mp4", "clips/c-1-avi", "gone"):
        write_json(vehicles, f"{TASK}/{stem}.json", {"file_name": f"{stem}.png", "predictions": []})
    unchanged = OtherInputFiles(pa.array(["old.jpg", "clips/b.mp4", "clips/c.mp4"]))

    result = read_task_predictions(vehicles, "vehicles", ["new.png"], elsewhere=unchanged)

    assert result.n_valid_files == 1
    assert [problem.file for problem in result.problems] == [
        f"{TASK}/clips/c-1-avi.json",
        f"{TASK}/gone.json",
    ]
    assert result.not_read == {"notRead": 2}
    assert result.n_files == result.n_valid_files + len(result.problems) + sum(result.not_read.values())


def test_files_of_corrupt_and_duplicate_samples_are_counted_by_reason_not_reported(
    vehicles: Location,
) -> None:
    for stem in ("photos/a", "photos/broken", "photos/coffee_copy", "photos/ghost"):
        write_json(vehicles, f"{TASK}/{stem}.json", {"file_name": f"{stem}.png", "predictions": []})
    vehicles.write_bytes(f"{TASK}/photos/moon.json", b"{not json")
    unread = UnreadInputs(
        [
            ("corrupt", OtherInputFiles(pa.array(["photos/broken.jpg"]))),
            ("duplicate", OtherInputFiles(pa.array(["photos/coffee_copy.png"]))),
        ]
    )

    result = read_task_predictions(
        vehicles, "vehicles", ["photos/a.png", "photos/moon.png"], elsewhere=unread
    )

    assert (result.n_files, result.n_valid_files) == (5, 1)
    assert result.not_read == {"corrupt": 1, "duplicate": 1}
    assert [str(problem).split(": ")[0] for problem in result.problems] == [
        f"{TASK}/photos/ghost.json",
        f"{TASK}/photos/moon.json",
    ]
    assert "no input sample has the path without extension 'photos/ghost'" in str(result.problems[0])


def test_other_input_files_hold_images_videos_and_frames() -> None:
    unchanged = OtherInputFiles(pa.array(["a/x.png", "clips/b.mp4"]))
    for stem in ("a/x", "clips/b", "clips/b-000-mp4", "clips/b-12-mp4"):
        assert stem in unchanged
    for stem in ("a/y", "x", "clips/b-000-avi", "clips/b-x-mp4", "clips/b-000", "clips/bb-000-mp4"):
        assert stem not in unchanged
    assert "a/x" not in OtherInputFiles(pa.array([], pa.string()))


def test_without_sample_names_every_file_is_accepted(vehicles: Location) -> None:
    write_json(vehicles, f"{TASK}/x/y.json", {"file_name": "x/y.webp", "predictions": [box(0, 0.5)]})
    result = read_task_predictions(vehicles, "vehicles")
    assert list(result.predictions) == ["x/y.webp"]
    assert result.problems == []


def test_same_stem_different_extension_picks_the_named_sample(vehicles: Location) -> None:
    write_json(vehicles, f"{TASK}/a.json", {"file_name": "a.jpg", "predictions": [box(0, 0.5)]})
    result = read_task_predictions(vehicles, "vehicles", {"a.png", "a.jpg"})
    assert list(result.predictions) == ["a.jpg"]
    assert result.for_sample("a.png") == []


@pytest.mark.parametrize("unsafe", ["../image_1.png", "/image_1.png", "sub/../../image_1.png"])
def test_path_traversal_in_file_name_is_a_problem(vehicles: Location, unsafe: str) -> None:
    write_json(vehicles, f"{TASK}/image_1.json", {"file_name": unsafe, "predictions": []})
    write_json(vehicles, f"{TASK}/image_2.json", {"file_name": "image_2.png", "predictions": []})
    result = read_task_predictions(vehicles, "vehicles", {"image_1.png", "image_2.png"})
    assert list(result.predictions) == ["image_2.png"]
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert (problem.file, problem.key) == (f"{TASK}/image_1.json", "file_name")
    assert "unsafe path" in problem.message


def test_video_frames_are_keyed_by_frame_name(vehicles: Location) -> None:
    write_json(
        vehicles,
        f"{TASK}/clips/a-000-mp4.json",
        {"file_name": "clips/a-000-mp4.png", "predictions": [box(1, 0.3)]},
    )
    frames = [f"clips/a-{index:03d}-mp4.png" for index in range(3)]
    result = read_task_predictions(vehicles, "vehicles", frames)
    assert result.problems == []
    assert result.for_sample("clips/a-000-mp4.png") == [
        Prediction(category_id=1, score=0.3, bbox=(1.0, 2.0, 3.0, 4.0))
    ]
    assert result.for_sample("clips/a-001-mp4.png") == []


def test_all_invalid_files_make_a_used_task_fail(vehicles: Location) -> None:
    write_json(vehicles, f"{TASK}/a.json", {"file_name": "a.png", "predictions": [box(0, 2.0)]})
    write_json(vehicles, f"{TASK}/b.json", {"file_name": "b.png"})
    result = read_task_predictions(vehicles, "vehicles", {"a.png", "b.png"})
    assert result.n_files == 2
    assert result.n_valid_files == 0
    with pytest.raises(InputFormatError) as caught:
        require_predictions(result)
    message = str(caught.value)
    assert message.startswith(
        f"{TASK}/: expected at least one valid prediction file of task 'vehicles', "
        "which the run uses, got 2 files"
    )
    assert f"{TASK}/a.json: predictions[0].score: expected a number in [0, 1], got 2.0" in message
    assert f"{TASK}/b.json: predictions: expected this key, but it is missing" in message


def test_task_without_files_fails_when_used(vehicles: Location) -> None:
    result = read_task_predictions(vehicles, "vehicles", {"a.png"})
    with pytest.raises(
        InputFormatError, match=r"^\.lightly/predictions/vehicles/: expected prediction files"
    ):
        require_predictions(result)


def test_missing_schema_raises(lightly: Location) -> None:
    with pytest.raises(InputFormatError, match=r"schema\.json: expected the schema of task 'nope'"):
        read_task_predictions(lightly, "nope", {"a.png"})


def test_many_files_are_read_quickly(vehicles: Location) -> None:
    names = [f"d{index % 10}/img_{index}.png" for index in range(2000)]
    for name in names:
        write_json(
            vehicles,
            f"{TASK}/{name[:-4]}.json",
            {"file_name": name, "predictions": [box(index_of(name) % 2, 0.5)]},
        )
    result = read_task_predictions(vehicles, "vehicles", names)
    assert result.n_valid_files == 2000
    assert result.problems == []
    assert result.for_sample("d3/img_13.png")[0].category_id == 1


def index_of(name: str) -> int:
    return int(name.rsplit("_", 1)[1][:-4])


def test_files_read_earlier_in_the_run_are_not_fetched_again(
    vehicles: Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("image_1", "image_2"):
        write_json(vehicles, f"{TASK}/{name}.json", {"file_name": f"{name}.png", "predictions": []})
    write_json(vehicles, f"{TASK}/a.json", {"file_name": "a.jpg", "predictions": [box(0, 0.5)]})
    vehicles.write_bytes(f"{TASK}/image_3.json", b"{not json")
    # Object level reads the task for the samples it cuts (a.jpg as named in its file) ...
    earlier = read_task_predictions(vehicles, "vehicles", ["image_1.png", "image_3.png", "a.jpg"])
    names = ["image_1.png", "image_2.png", "image_3.png", "a.png"]
    fresh = read_task_predictions(vehicles, "vehicles", names)
    fetched: list[str] = []
    read_bytes = vehicles.read_bytes
    monkeypatch.setattr(vehicles, "read_bytes", lambda path: fetched.append(path) or read_bytes(path))

    # ... and the report for the pool's samples, which here name a.png, not a.jpg.
    again = read_task_predictions(vehicles, earlier.schema, names, already_read=earlier)

    assert again.predictions == fresh.predictions
    assert again.predictions.keys() == {"image_1.png", "image_2.png"}
    assert again.problems == fresh.problems and len(again.problems) == 2
    assert again.n_files == fresh.n_files == 4
    # Not image_1 (valid before); the invalid file and a.json, valid for another name, are read.
    assert sorted(fetched) == [f"{TASK}/a.json", f"{TASK}/image_2.json", f"{TASK}/image_3.json"]
