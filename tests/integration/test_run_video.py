"""Runs on videos: every frame is a sample, named after its video; a broken video is listed and
the run goes on; video-level metadata applies to every frame of the video."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import lightly_ray
from lightly_ray.datasets import Dataset
from lightly_ray.errors import LightlyRayError
from lightly_ray.storage import Location
from lightly_ray.video.decode import decode_all
from tests.data.grouped_images import FAST_MODEL, group_image
from tests.data.videos import FORMATS, make_video

pytestmark = pytest.mark.usefixtures("ray_instance")
CLIP_FRAMES, WEBM_FRAMES = 150, 30


@pytest.fixture(scope="module")
def video_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("video-input")
    (root / "clips").mkdir()
    for member in range(2):
        (root / f"still_{member}.png").write_bytes(group_image(member, member))
    _, codec, options = FORMATS["mp4-h264-bframes"]
    make_video(root / "clips" / "a.mp4", codec, options, CLIP_FRAMES)
    _, codec, options = FORMATS["webm-vp9"]
    make_video(root / "clips" / "b.WEBM", codec, options, WEBM_FRAMES)
    (root / "clips" / "broken.mov").write_bytes(b"not a video at all")
    (root / "notes.txt").write_text("not read, counted")
    return root


def test_frames_are_samples_and_a_broken_video_is_listed(video_input: Path, tmp_path: Path) -> None:
    lightly = tmp_path / "lightly"
    (lightly / ".lightly" / "metadata" / "clips").mkdir(parents=True)
    schema = [
        {"name": "T", "path": "weather.temperature", "defaultValue": 0.0, "valueDataType": "NUMERIC_FLOAT"}
    ]
    (lightly / ".lightly" / "metadata" / "schema.json").write_text(json.dumps(schema))
    video_metadata = {
        "file_name": "clips/a.mp4",
        "type": "video",
        "metadata": {"weather": {"temperature": 30}},
    }
    (lightly / ".lightly" / "metadata" / "clips" / "a.json").write_text(json.dumps(video_metadata))
    warm = {
        "input": {"type": "METADATA", "key": "weather.temperature"},
        "strategy": {"type": "THRESHOLD", "threshold": 20, "operation": "BIGGER"},
    }
    result = lightly_ray.run(
        video_input,
        lightly,
        selection_config={
            "n_samples": 6,
            "strategies": [warm, {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    # Only the frames of clips/a.mp4 inherit the video's temperature: the threshold keeps them.
    assert len(result.selected) == 6
    assert all(name.startswith("clips/a-") and name.endswith("-mp4.png") for name in result.selected)
    assert result.counts["nInput"] == 2 + CLIP_FRAMES + WEBM_FRAMES
    assert result.counts["nCorrupt"] == 0
    assert result.counts["nCorruptVideos"] == 1
    assert "(0 corrupt, 0 exact duplicates); 1 video cannot be read, see corrupt files" in result.summary()
    threshold = result.report["selection"]["strategies"][0]
    assert (threshold["nPassed"], threshold["nCandidates"]) == (CLIP_FRAMES, 2 + CLIP_FRAMES + WEBM_FRAMES)

    folder = Path(result.run_folder)
    names = pq.read_table(folder / "embeddings.parquet").column("name").to_pylist()
    assert names == sorted(
        ["still_0.png", "still_1.png"]
        + [f"clips/a-{index:03d}-mp4.png" for index in range(CLIP_FRAMES)]
        + [f"clips/b-{index:02d}-WEBM.png" for index in range(WEBM_FRAMES)]
    )
    corrupt = json.loads((folder / "corruptness_check_information.json").read_text())
    assert corrupt["corrupt_samples"] == []
    assert corrupt["corrupt_videos"] == ["clips/broken.mov"]
    assert "cannot be opened as a video" in corrupt["errors"]["clips/broken.mov"]
    assert result.report["inputs"]["otherFiles"] == {".txt": 1}
    assert "videos" in result.report["stageTimings"]

    # The selected frames, as images, with exactly the decoded pixels (PNG is lossless).
    frames = lightly / ".lightly" / "frames"
    written = sorted(str(path.relative_to(frames)) for path in frames.rglob("*") if path.is_file())
    assert written == result.selected
    assert result.report["frames"] == {"folder": ".lightly/frames", "written": 6}
    reference = [image for _, image in decode_all(str(video_input / "clips" / "a.mp4"))]
    for name in result.selected:
        index = int(name.split("-")[-2])
        assert np.array_equal(np.asarray(Image.open(frames / name).convert("RGB")), reference[index])


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_videos_on_object_storage(
    scheme: str, video_input: Path, tmp_path: Path, make_url: Callable[[str, str], str]
) -> None:
    url = make_url(scheme, "lr-input")
    writer = Location(url, writable=True)
    for path in sorted(video_input.rglob("*")):
        if path.is_file():
            writer.write_bytes(path.relative_to(video_input).as_posix(), path.read_bytes())
    result = lightly_ray.run(
        url,
        tmp_path / "lightly",
        worker_config={"output_image_format": "jpg"},
        selection_config={
            "n_samples": 4,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    assert result.counts["nInput"] == 2 + CLIP_FRAMES + WEBM_FRAMES
    assert result.counts["nCorrupt"] == 0
    corrupt = json.loads((Path(result.run_folder) / "corruptness_check_information.json").read_text())
    assert corrupt["corrupt_videos"] == ["clips/broken.mov"]
    frames = tmp_path / "lightly" / ".lightly" / "frames"
    written = sorted(str(path.relative_to(frames)) for path in frames.rglob("*.jpg"))
    expected = sorted(
        name.removesuffix(".png") + ".jpg" for name in result.selected if name.startswith("clips/")
    )
    assert written == expected


def test_whole_sequences_are_selected(video_input: Path, tmp_path: Path) -> None:
    length = 10
    result = lightly_ray.run(
        video_input,
        tmp_path / "lightly",
        worker_config={"selected_sequence_length": length},
        selection_config={
            "n_samples": 3 * length,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
        },
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    assert len(result.selected) == 3 * length
    sequences = json.loads((Path(result.run_folder) / "sequence_information.json").read_text())
    assert len(sequences) == 3
    for sequence in sequences:
        indices = sequence["frame_indices"]
        assert indices == list(range(indices[0], indices[0] + length)) and indices[0] % length == 0
        assert sequence["video_name"] in ("clips/a.mp4", "clips/b.WEBM")
        stem, extension = sequence["video_name"].rsplit(".", 1)
        digits = 3 if extension == "mp4" else 2
        assert sequence["frame_names"] == [f"{stem}-{index:0{digits}d}-{extension}.png" for index in indices]
        seconds = sequence["frame_timestamps_sec"]
        assert seconds == pytest.approx([index / 25 for index in indices], abs=1e-6)
        assert len(sequence["frame_timestamps_pts"]) == length
    assert sorted(name for sequence in sequences for name in sequence["frame_names"]) == result.selected
    selection = result.report["selection"]
    assert (selection["requested"], selection["nSelected"], selection["shortfall"]) == (30, 30, None)
    # Images belong to no sequence and are never selected with sequences.
    assert not any(name.startswith("still_") for name in result.selected)
    # The dataset records each frame's sequence, as numbered in sequence_information.json.
    dataset = Dataset(Location(str(tmp_path / "lightly"), writable=False), result.dataset)
    samples = dataset.read_table(dataset.load(), "samples")
    assert samples is not None
    recorded = dict(
        zip(samples.column("name").to_pylist(), samples.column("sequence").to_pylist(), strict=True)
    )
    assert recorded == {
        name: f"{result.run_id}/{number}"
        for number, sequence in enumerate(sequences)
        for name in sequence["frame_names"]
    }


def test_an_embeddings_csv_can_name_video_frames(video_input: Path, tmp_path: Path) -> None:
    from lightly_ray.formats.embeddings_csv import write_embeddings_csv
    from lightly_ray.video.names import frame_names

    lightly = Location(str(tmp_path / "lightly"), writable=True)
    names = ["still_0.png", "still_1.png", *frame_names("clips/a.mp4", CLIP_FRAMES)]
    vectors = np.random.default_rng(0).normal(size=(len(names), 4)).astype(np.float32)
    write_embeddings_csv(lightly, "embeddings.csv", names, vectors)
    # Video-level metadata applies to the frames on this path too (they are not decoded).
    schema = [
        {"name": "W", "path": "weather", "defaultValue": "sunny", "valueDataType": "CATEGORICAL_STRING"}
    ]
    lightly.write_bytes(".lightly/metadata/schema.json", json.dumps(schema).encode())
    video_metadata = {"file_name": "clips/a.mp4", "type": "video", "metadata": {"weather": "snowy"}}
    lightly.write_bytes(".lightly/metadata/clips/a.json", json.dumps(video_metadata).encode())
    balance = {
        "input": {"type": "METADATA", "key": "weather"},
        "strategy": {"type": "BALANCE", "target": {"snowy": 0.5, "sunny": 0.5}},
    }
    result = lightly_ray.run(
        video_input,
        tmp_path / "lightly",
        worker_config={"embeddings": "embeddings.csv"},
        selection_config={
            "n_samples": 10,
            "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}, balance],
        },
        lightly_config=FAST_MODEL,
        show_progress=False,
    )
    assert result.counts["nInput"] == len(names)
    assert len(result.selected) == 10
    assert any(name.startswith("clips/a-") for name in result.selected), "frames are candidates"
    achieved = result.report["selection"]["strategies"][1]["achieved"]
    assert achieved["snowy"] == 0.8 and achieved["sunny"] == 0.2, achieved  # both stills, 8 frames
    # The selected frames are written as images, as in a run that decodes them.
    frames = tmp_path / "lightly" / ".lightly" / "frames"
    written = sorted(str(path.relative_to(frames)) for path in frames.rglob("*") if path.is_file())
    assert written == [name for name in result.selected if name.startswith("clips/")]


def test_an_image_named_like_a_frame_stops_the_run_before_decoding(tmp_path: Path) -> None:
    root = tmp_path / "input"
    root.mkdir()
    _, codec, options = FORMATS["mp4-h264-bframes"]
    make_video(root / "v.mp4", codec, options, 12)
    (root / "v-03-mp4.png").write_bytes(group_image(0, 0))  # frame 3, extracted earlier
    lightly = tmp_path / "lightly"
    diverse = [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}]
    selection = {"n_samples": 2, "strategies": diverse}
    with pytest.raises(LightlyRayError) as caught:
        lightly_ray.run(root, lightly, selection_config=selection, lightly_config=FAST_MODEL)
    message = str(caught.value)
    assert message.startswith("1 image file in ") and "'v-03-mp4.png' (a frame of 'v.mp4')" in message
    assert "has the name of a video frame, which is a sample of its own" in message
    (run,) = (lightly / ".lightly" / "runs").iterdir()
    assert "decode+embed" not in (run / "log.txt").read_text(), "stopped before decoding"
