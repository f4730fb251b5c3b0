from __future__ import annotations

import io
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from lightly_ray.video.decode import SegmentDecode, decode_all, decode_segment
from lightly_ray.video.names import frame_name, frame_names
from lightly_ray.video.segments import Segment, VideoError, VideoIndex, index_video, plan_segments
from tests.data.videos import FORMATS, make_video

FRAMES = 100


@pytest.fixture(scope="module", params=sorted(FORMATS))
def video(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    name, codec, options = FORMATS[request.param]
    return make_video(tmp_path_factory.mktemp(request.param) / name, codec, options, FRAMES)


def test_frame_names_pad_to_the_digits_of_the_frame_count() -> None:
    assert frame_name("clips/a.mp4", 0, 200) == "clips/a-000-mp4.png"
    assert frame_name("clips/a.mp4", 199, 200) == "clips/a-199-mp4.png"
    assert frame_name("a.b/c.MOV", 7, 1000) == "a.b/c-0007-MOV.png"
    assert frame_names("v.webm", 3) == ["v-0-webm.png", "v-1-webm.png", "v-2-webm.png"]
    with pytest.raises(ValueError, match="outside"):
        frame_name("a.mp4", 10, 10)
    with pytest.raises(ValueError, match="no extension"):
        frame_name("clips.d/video", 0, 10)


def test_the_index_counts_the_frames_a_sequential_decode_returns(video: Path) -> None:
    index = index_video(str(video))
    reference = [stamp for stamp, _ in decode_all(str(video))]
    assert index.frame_count == FRAMES == len(reference)
    assert index.pts.tolist() == reference
    assert index.keyframes[0] == 0 and len(index.keyframes) > 1
    assert (index.width, index.height) == (64, 48)
    assert index.seconds()[1] == pytest.approx(1 / 25)


@pytest.mark.parametrize("frames_per_segment", [1, 7, 30, 1000])
def test_segments_give_every_frame_once_with_the_pixels_of_a_sequential_decode(
    video: Path, frames_per_segment: int
) -> None:
    index = index_video(str(video))
    segments = plan_segments(index, frames_per_segment)
    assert segments[0].start == 0 and segments[-1].stop == FRAMES
    assert all(first.stop == second.start for first, second in pairwise(segments))
    assert all(segment.start in set(index.keyframes.tolist()) for segment in segments)
    reference = list(decode_all(str(video)))
    decoded = []
    for segment in segments:
        report = SegmentDecode(segment)
        frames = list(decode_segment(str(video), index, segment, report))
        assert [frame.index for frame in frames] == list(range(segment.start, segment.stop))
        assert report.missing() == [] and report.errors == []
        decoded += frames
    assert [frame.index for frame in decoded] == list(range(FRAMES))
    for frame, (stamp, image) in zip(decoded, reference, strict=True):
        assert frame.pts == stamp
        assert np.array_equal(frame.image, image), f"frame {frame.index} differs from the sequential decode"


def test_a_segment_alone_from_a_file_object(video: Path) -> None:
    index = index_video(io.BytesIO(video.read_bytes()))
    segments = plan_segments(index, 30)
    assert len(segments) > 1
    middle = segments[1]
    frames = list(decode_segment(io.BytesIO(video.read_bytes()), index, middle))
    reference = list(decode_all(str(video)))[middle.start : middle.stop]
    assert [frame.pts for frame in frames] == [stamp for stamp, _ in reference]
    assert all(
        np.array_equal(frame.image, image) for frame, (_, image) in zip(frames, reference, strict=True)
    )


def test_segments_end_at_keyframes_and_are_never_shorter_than_asked() -> None:
    index = VideoIndex(
        pts=np.arange(50, dtype=np.int64),
        keyframes=np.array([0, 10, 20, 30, 40], dtype=np.int64),
        time_base=Fraction(1, 25),
        width=4,
        height=4,
    )
    assert plan_segments(index, 15) == [Segment(0, 20), Segment(20, 40), Segment(40, 50)]
    assert plan_segments(index, 10) == [
        Segment(0, 10),
        Segment(10, 20),
        Segment(20, 30),
        Segment(30, 40),
        Segment(40, 50),
    ]
    assert plan_segments(index, 100) == [Segment(0, 50)]


def test_files_that_are_not_videos_are_video_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_bytes(b"not a video at all" * 100)
    for name in ("empty.mp4", "text.mp4"):
        with pytest.raises(VideoError, match="cannot be opened as a video"):
            index_video(str(tmp_path / name), name)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_long_video_streams_in_bounded_memory(tmp_path: Path) -> None:
    # 3,000 frames of 320 x 240: 690 MB as RGB arrays; decoding must hold one at a time.
    frames, width, height = 3000, 320, 240
    name, codec, options = FORMATS["mp4-h264-bframes"]
    video = make_video(tmp_path / name, codec, {**options, "g": "250"}, frames, width, height)
    index = index_video(str(video))
    assert index.frame_count == frames
    (segment,) = plan_segments(index, frames)
    before = _rss_bytes()
    peak, count, checksum = before, 0, 0
    for frame in decode_segment(str(video), index, segment):
        count += 1
        checksum += int(frame.image[0, 0, 0])
        if count % 50 == 0:
            peak = max(peak, _rss_bytes())
    assert count == frames
    assert checksum > 0
    whole = frames * width * height * 3
    assert peak - before < 100 * 2**20, (
        f"RSS grew by {(peak - before) / 2**20:.0f} MiB (the video is {whole / 2**20:.0f} MiB)"
    )
