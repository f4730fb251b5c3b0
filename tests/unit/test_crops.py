"""Object crops: geometry of padded, clipped boxes, names, and the rows cut from an image."""

from __future__ import annotations

import numpy as np

from lightly_ray.pipeline.crops import crop_name, cut_crops, padded_box


def test_padding_grows_the_box_around_its_centre_and_clips_to_the_image() -> None:
    assert padded_box(np.array([10, 20, 30, 10]), 0.0, 100, 50) == (10, 20, 40, 30)
    # 20% more width and height around the centre (25, 25): 36 x 12.
    assert padded_box(np.array([10, 20, 30, 10]), 0.2, 100, 50) == (7, 19, 43, 31)
    # Clipped at the image's border.
    assert padded_box(np.array([90, 40, 20, 20]), 0.5, 100, 50) == (85, 35, 100, 50)
    assert padded_box(np.array([-5, -5, 10, 10]), 0.0, 100, 50) == (0, 0, 5, 5)


def test_boxes_without_area_or_outside_the_image_have_no_crop() -> None:
    assert "no area" in str(padded_box(np.array([10, 10, 0, 5]), 0.1, 100, 50))
    assert "outside" in str(padded_box(np.array([200, 10, 10, 10]), 0.1, 100, 50))
    assert "not finite" in str(padded_box(np.array([np.nan, 10, 10, 10]), 0.1, 100, 50))


def test_crop_names_follow_the_frame_names() -> None:
    assert crop_name("dir/img_1.jpg", 2) == "dir/img_1-crop-2-jpg.png"
    assert crop_name("clips/a-007-mp4.png", 0) == "clips/a-007-mp4-crop-0-png.png"


def test_cut_crops_makes_a_row_per_box_with_its_pixels_and_metadata() -> None:
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[10:20, 5:25] = (200, 0, 0)
    boxes = np.array([[5, 10, 20, 10], [0, 0, 0, 0]], dtype=np.float32)
    rows = cut_crops(
        "a.png",
        pixels,
        boxes,
        np.array([3, 4]),
        np.array([0.9, 0.1]),
        padding=0.0,
        input_size=8,
        source={"size": 123, "video": ""},
    )
    assert rows["name"].tolist() == ["a-crop-0-png.png", "a-crop-1-png.png"]
    assert rows["ok"].tolist() == [True, False] and "no area" in rows["error"][1]
    assert rows["crop_box"][0].tolist() == [5, 10, 25, 20]
    assert (rows["width"][0], rows["height"][0]) == (20, 10)
    assert (rows["image"][0] == (200, 0, 0)).all(), "the crop is the red box, resized"
    assert rows["lightly_meanRed"][0] == 200.0 and rows["lightly_width"][0] == 20
    assert rows["parent"].tolist() == ["a.png", "a.png"] and rows["category_id"].tolist() == [3, 4]
    assert rows["size"].tolist() == [123, 123] and rows["video"].tolist() == ["", ""]
