"""A video segment decoded straight from each store, reading only about the bytes it needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from lightly_ray.storage import Location
from lightly_ray.video.decode import decode_all, decode_segment
from lightly_ray.video.segments import index_video, plan_segments

FRAMES, WIDTH, HEIGHT = 200, 256, 192


@pytest.fixture(scope="module")
def noisy_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random frames (they compress badly, so the file is several MB), a keyframe every 25."""
    path = tmp_path_factory.mktemp("video") / "noise.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"g": "25", "bf": "2", "preset": "ultrafast", "crf": "10"}
        for _ in range(FRAMES):
            image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("scheme", ["local", "s3", "gs", "az"])
def test_a_segment_decodes_from_a_ranged_stream(
    scheme: str, make_url: Callable[[str, str], str], noisy_video: Path
) -> None:
    data = noisy_video.read_bytes()
    assert len(data) > 4 << 20, "the video must span several 1 MiB blocks"
    writer = Location(make_url(scheme, "lr-input"), writable=True)
    writer.write_bytes("clips/noise.mp4", data)
    location = Location(writer.url if scheme != "local" else writer.root, writable=False)
    with location.open_read("clips/noise.mp4") as stream:
        index = index_video(stream, "clips/noise.mp4")
    assert index.frame_count == FRAMES
    last = plan_segments(index, 25)[-1]
    with location.open_read("clips/noise.mp4", size=len(data)) as stream:
        frames = list(decode_segment(stream, index, last))
        fetched = getattr(getattr(stream, "raw", None), "fetched_bytes", None)
    reference = list(decode_all(str(noisy_video)))[last.start :]
    assert [frame.index for frame in frames] == list(range(last.start, FRAMES))
    assert all(
        np.array_equal(frame.image, image) for frame, (_, image) in zip(frames, reference, strict=True)
    )
    if scheme != "local":
        assert fetched is not None and fetched < 0.5 * len(data), f"fetched {fetched} of {len(data)} bytes"
