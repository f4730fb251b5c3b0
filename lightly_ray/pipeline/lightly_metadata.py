"""Lightly metadata (`lightly.<name>` in METADATA inputs), computed from one decoded image.

Definitions, on the image at its original resolution (uint8 RGB, channel values 0..255):

- `grey = 0.299 R + 0.587 G + 0.114 B` (ITU-R BT.601 luma, as PIL's "L" mode, unrounded).
- `sharpness`: population standard deviation of the 3x3 Laplacian (`8 * centre - sum of the 8
  neighbours`) of the grey image over the pixels whose whole 3x3 neighbourhood lies inside the
  image (no padding); 0 for images narrower or lower than 3 pixels.
- `snr`: mean / population standard deviation of all channel values (R, G and B together); 0
  when the standard deviation is 0.
- `contrast`: RMS contrast relative to brightness, std(grey) / mean(grey); 0 for a black image.
- `meanRed`, `meanGreen`, `meanBlue`: mean of each channel, in 0..255.
- `width`, `height`: in pixels; `sizeInBytes`: the byte size of the encoded file.

A greyscale image (shape (height, width)) counts as R = G = B; an alpha channel is ignored. The
grey plane is computed in float32 (as the weights are applied to 8-bit values, in a fixed order,
so the same on every machine), the Laplacian and every other sum in float64. The channel sums
and the sum of squares of the channel values are integers, exact; `snr` comes from them exactly.
The grey and Laplacian means and standard deviations are two-pass (mean first, then the centred
sum of squares).

One compiled pass over the pixels (numba; three over the grey plane it keeps) does all of it:
on a 1920 x 1440 photo 103 ms of numpy passes became a few milliseconds, which matters because
the metadata is defined on the original pixels and a decode task computes it for every image
(`bench/ingest.py --image-px 1920`). `laplacian_std` is the numpy definition, kept for tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt

from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
_LUMA = np.array(LUMA_WEIGHTS, dtype=np.float32)


def compute_lightly_metadata(image: npt.NDArray[np.uint8], size_in_bytes: int) -> dict[str, float]:
    """The Lightly metadata of one image.

    Args:
        image: Array of shape (height, width, 3) (or 4, alpha ignored) or (height, width), uint8.
        size_in_bytes: Size of the encoded file.

    Returns:
        A value for every name of `LIGHTLY_METADATA_NAMES`.

    Raises:
        ValueError: When the array does not hold an image.
    """
    rgb = np.ascontiguousarray(_as_rgb(image))
    height, width = rgb.shape[:2]
    pixels = height * width
    sums, squares, grey_mean, grey_std, laplacian = _image_sums(rgb, _LUMA)
    total = int(sums.sum())
    count = 3 * pixels
    # Exact in Python's integers; float only at the end.
    variance_numerator = int(squares) * count - total * total
    values_mean = total / count
    values_std = math.sqrt(variance_numerator / count / count) if variance_numerator > 0 else 0.0
    return {
        "sharpness": laplacian,
        "snr": values_mean / values_std if values_std > 0.0 else 0.0,
        "sizeInBytes": float(size_in_bytes),
        "width": float(width),
        "height": float(height),
        "meanRed": float(sums[0]) / pixels,
        "meanGreen": float(sums[1]) / pixels,
        "meanBlue": float(sums[2]) / pixels,
        "contrast": grey_std / grey_mean if grey_mean > 0.0 else 0.0,
    }


@numba.njit(cache=True, nogil=True)
def _image_sums(
    rgb: npt.NDArray[np.uint8], luma: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.int64], int, float, float, float]:  # pragma: no cover - JIT
    """Channel sums, the sum of squared channel values, grey mean and std, Laplacian std."""
    height, width = rgb.shape[0], rgb.shape[1]
    grey = np.empty((height, width), dtype=np.float32)
    sums = np.zeros(3, dtype=np.int64)
    squares = 0
    grey_sum = 0.0
    for y in range(height):
        for x in range(width):
            red, green, blue = rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2]
            sums[0] += red
            sums[1] += green
            sums[2] += blue
            squares += np.int64(red) * red + np.int64(green) * green + np.int64(blue) * blue
            value = np.float32(red) * luma[0]
            value += np.float32(green) * luma[1]
            value += np.float32(blue) * luma[2]
            grey[y, x] = value
            grey_sum += value
    pixels = height * width
    grey_mean = grey_sum / pixels
    centred = 0.0
    for y in range(height):
        for x in range(width):
            difference = np.float64(grey[y, x]) - grey_mean
            centred += difference * difference
    grey_std = np.sqrt(centred / pixels)
    if height < 3 or width < 3:
        return sums, squares, grey_mean, grey_std, 0.0
    inner = (height - 2) * (width - 2)
    total = 0.0
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            total += _laplacian(grey, y, x)
    mean = total / inner
    centred = 0.0
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            difference = _laplacian(grey, y, x) - mean
            centred += difference * difference
    return sums, squares, grey_mean, grey_std, np.sqrt(centred / inner)


@numba.njit(cache=True, nogil=True, inline="always")
def _laplacian(grey: npt.NDArray[np.float32], y: int, x: int) -> float:  # pragma: no cover - JIT
    """9 x centre minus the 3x3 box sum (rows of three, then the three rows), in float64."""
    above = (np.float64(grey[y - 1, x - 1]) + grey[y - 1, x]) + grey[y - 1, x + 1]
    row = (np.float64(grey[y, x - 1]) + grey[y, x]) + grey[y, x + 1]
    below = (np.float64(grey[y + 1, x - 1]) + grey[y + 1, x]) + grey[y + 1, x + 1]
    return float(np.float64(grey[y, x]) * 9.0 - ((above + row) + below))


def laplacian_std(grey: npt.NDArray[np.floating]) -> float:
    """Population standard deviation of the 3x3 Laplacian of a grey image (valid pixels only).

    The Laplacian is 9 x centre minus the 3x3 box sum (the same as 8 x centre minus the eight
    neighbours), the box sum taken separably: rows of three, then columns of three.

    Args:
        grey: Array of shape (height, width).

    Returns:
        The standard deviation; 0 when the image is smaller than 3x3.
    """
    height, width = grey.shape
    if height < 3 or width < 3:
        return 0.0
    plane = np.asarray(grey, dtype=np.float64)
    rows = plane[:, :-2] + plane[:, 1:-1]
    rows += plane[:, 2:]
    box = rows[:-2] + rows[1:-1]
    box += rows[2:]
    laplacian = plane[1:-1, 1:-1] * 9.0
    laplacian -= box
    return _mean_std(laplacian.ravel())[1]


def _mean_std(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Mean and population standard deviation of a flat float64 array, in two passes."""
    mean = float(values.sum()) / values.size
    centred = values - mean
    return mean, float(np.sqrt(np.dot(centred, centred) / values.size))


def lightly_metadata_columns(rows: Sequence[dict[str, float]]) -> dict[str, npt.NDArray[np.float64]]:
    """Columns from the per-image results of `compute_lightly_metadata`, for `SelectionData`.

    Args:
        rows: One result per candidate, in candidate order.

    Returns:
        By name, arrays of shape (n_rows,), float64.
    """
    return {
        name: np.fromiter((row[name] for row in rows), dtype=np.float64, count=len(rows))
        for name in LIGHTLY_METADATA_NAMES
    }


def _as_rgb(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"expected an image of shape (height, width, 3), got shape {array.shape}")
    return array[:, :, :3]
