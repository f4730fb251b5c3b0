"""Generated videos: every frame different (a moving bar, a colour ramp), encoded with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

# (file name, codec, encoder options): B-frames and short GOPs make seams where order matters.
FORMATS = {
    "mp4-h264-bframes": ("clip.mp4", "libx264", {"g": "12", "bf": "3", "preset": "ultrafast"}),
    "mp4-h264-open-gop": (
        "open.mp4",
        "libx264",
        {"preset": "ultrafast", "x264-params": "keyint=12:min-keyint=12:open-gop=1:bframes=3:scenecut=0"},
    ),
    "mkv-h264": ("clip.mkv", "libx264", {"g": "10", "bf": "2", "preset": "ultrafast"}),
    "mov-h264": ("clip.MOV", "libx264", {"g": "15", "bf": "2", "preset": "ultrafast"}),
    "webm-vp9": ("clip.webm", "libvpx-vp9", {"g": "15", "deadline": "realtime", "cpu-used": "8"}),
    "avi-mpeg4": ("clip.avi", "mpeg4", {"g": "12"}),
}


def frame_image(index: int, width: int, height: int, variant: int = 0) -> np.ndarray:
    """Frame `index`: a red ramp by index and a green bar that moves one row per frame.

    `variant` > 0 gives another video's look: a checkerboard of its own cell size and colour.
    """
    image = np.zeros((height, width, 3), dtype=np.uint8)
    if variant:
        cell = 2 + 3 * variant
        rows, columns = np.indices((height, width))
        board = ((rows // cell + columns // cell + index // 8) % 2).astype(bool)
        image[board] = ((variant * 97) % 256, (variant * 53) % 256, (variant * 151) % 256)
        image[..., 0] = image[..., 0] // 2 + (index * 7) % 128
    else:
        image[..., 0] = (index * 7) % 256
    image[index % height, :, 1] = 255
    image[:, index % width, 2] = 200
    return image


def make_video(
    path: Path,
    codec: str,
    options: dict[str, str],
    frames: int,
    width: int = 64,
    height: int = 48,
    rate: int = 25,
    variant: int = 0,
) -> Path:
    """Encode `frames` frames of `frame_image` (of `variant`) to `path`."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(index, width, height, variant), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
