from __future__ import annotations

import math

import numpy as np
import pytest

from lightly_ray.pipeline.lightly_metadata import (
    LIGHTLY_METADATA_NAMES,
    compute_lightly_metadata,
    laplacian_std,
    lightly_metadata_columns,
)


def grey_image(values: list[list[int]]) -> np.ndarray:
    plane = np.asarray(values, dtype=np.uint8)
    return np.repeat(plane[:, :, None], 3, axis=2)


def test_grey_image_by_hand() -> None:
    image = grey_image([[0, 0, 0, 0], [0, 10, 0, 0], [0, 0, 0, 0]])
    metadata = compute_lightly_metadata(image, size_in_bytes=123)
    # Valid Laplacian pixels (1, 1) and (1, 2): 8 * 10 = 80 and -10; std 45.
    assert metadata["sharpness"] == pytest.approx(45.0, rel=1e-6)
    mean = 10 / 12
    std = math.sqrt(100 / 12 - mean**2)
    assert metadata["snr"] == pytest.approx(mean / std, rel=1e-6)
    assert metadata["contrast"] == pytest.approx(std / mean, rel=1e-6)
    assert metadata["width"] == 4 and metadata["height"] == 3 and metadata["sizeInBytes"] == 123
    assert metadata["meanRed"] == pytest.approx(mean)
    assert set(metadata) == set(LIGHTLY_METADATA_NAMES)


def test_colour_means_and_grey_conversion() -> None:
    image = np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    metadata = compute_lightly_metadata(image, size_in_bytes=1)
    assert (metadata["meanRed"], metadata["meanGreen"], metadata["meanBlue"]) == (127.5, 0.0, 127.5)
    red, blue = 0.299 * 255, 0.114 * 255
    assert metadata["contrast"] == pytest.approx(((red - blue) / 2) / ((red + blue) / 2), rel=1e-6)
    assert metadata["sharpness"] == 0.0  # smaller than 3x3
    values = np.array([255, 0, 0, 0, 0, 255], dtype=np.float64)
    assert metadata["snr"] == pytest.approx(values.mean() / values.std())


def test_flat_and_black_images() -> None:
    black = compute_lightly_metadata(np.zeros((5, 5, 3), dtype=np.uint8), size_in_bytes=0)
    assert black["snr"] == 0.0 and black["contrast"] == 0.0 and black["sharpness"] == 0.0
    flat = compute_lightly_metadata(np.full((5, 5, 3), 7, dtype=np.uint8), size_in_bytes=0)
    assert (
        flat["snr"] == 0.0 and flat["sharpness"] == 0.0 and flat["contrast"] == pytest.approx(0.0, abs=1e-6)
    )


def test_greyscale_and_alpha_inputs() -> None:
    plane = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    from_grey = compute_lightly_metadata(plane, size_in_bytes=5)
    rgba = np.concatenate([grey_image(plane.tolist()), np.zeros((4, 4, 1), dtype=np.uint8)], axis=2)
    assert compute_lightly_metadata(rgba, size_in_bytes=5) == from_grey
    with pytest.raises(ValueError, match="shape"):
        compute_lightly_metadata(np.zeros((4, 4, 2), dtype=np.uint8), size_in_bytes=0)


def test_laplacian_against_explicit_convolution() -> None:
    rng = np.random.default_rng(0)
    grey = rng.uniform(0, 255, size=(7, 9))
    kernel = -np.ones((3, 3))
    kernel[1, 1] = 8
    values = [
        float((grey[y - 1 : y + 2, x - 1 : x + 2] * kernel).sum()) for y in range(1, 6) for x in range(1, 8)
    ]
    assert laplacian_std(grey) == pytest.approx(float(np.std(values)), rel=1e-5)


def test_columns() -> None:
    rows = [compute_lightly_metadata(np.zeros((3, 3, 3), dtype=np.uint8), size_in_bytes=n) for n in (1, 2)]
    columns = lightly_metadata_columns(rows)
    assert columns["sizeInBytes"].tolist() == [1.0, 2.0]
    assert set(columns) == set(LIGHTLY_METADATA_NAMES)


@pytest.mark.parametrize(("height", "width"), [(3, 3), (5, 7), (64, 48), (257, 193)])
def test_against_a_plain_float64_reference(height: int, width: int) -> None:
    rng = np.random.default_rng(height * 1000 + width)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image[: height // 2] //= 7  # darker top half: not a uniform-noise image
    values = image.astype(np.float64)
    red, green, blue = (image[..., channel].astype(np.float32) for channel in range(3))
    luma = [np.float32(weight) for weight in (0.299, 0.587, 0.114)]
    grey = (red * luma[0] + green * luma[1] + blue * luma[2]).astype(np.float64)  # float32, as specified
    centre = grey[1:-1, 1:-1]
    shifts = [(dy, dx) for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)]
    neighbours = sum(grey[dy : dy + height - 2, dx : dx + width - 2] for dy, dx in shifts)
    metadata = compute_lightly_metadata(image, 10)
    assert metadata["sharpness"] == pytest.approx(float(np.std(8 * centre - neighbours)), rel=1e-9)
    assert metadata["snr"] == pytest.approx(values.mean() / values.std(), rel=1e-9)
    assert metadata["contrast"] == pytest.approx(grey.std() / grey.mean(), rel=1e-9)
    for index, name in enumerate(("meanRed", "meanGreen", "meanBlue")):
        assert metadata[name] == values[..., index].mean()
