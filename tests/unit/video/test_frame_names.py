"""Image files named like a video's frames are found (video/names.py)."""

from __future__ import annotations

from lightly_ray.video.names import frame_name, frames_named_like


def test_only_images_with_the_exact_name_of_an_existing_frame_clash() -> None:
    counts = {"clips/a.mp4": 20, "b.mov": 5}
    images = [
        "clips/a-07-mp4.png",  # frame 7 of 20: a clash
        "clips/a-7-mp4.png",  # not zero-padded as frames are
        "clips/a-20-mp4.png",  # past the last frame
        "a-07-mp4.png",  # another folder
        "b-4-mov.png",  # frame 4 of 5: a clash
        "b-4-mov.jpg",  # not a frame's extension
        "c-1-mp4.png",  # no such video
        "photo.png",
    ]
    clashes = [("clips/a-07-mp4.png", "clips/a.mp4"), ("b-4-mov.png", "b.mov")]
    assert frames_named_like(images, counts) == clashes
    assert frame_name("clips/a.mp4", 7, 20) == "clips/a-07-mp4.png"
    assert frames_named_like([frame_name("x-1.y.mkv", 3, 120)], {"x-1.y.mkv": 120}) == [
        ("x-1.y-003-mkv.png", "x-1.y.mkv")
    ]
