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
grey plane is computed in float32 (as the weights are applied to 8-bit values), the Laplacian and
every sum in float64: channel sums are exact, and means and standard deviations are two-pass
(mean first, then the centred sum of squares as a BLAS dot product), which is both more exact
and about twice as fast as numpy's `std` with a float64 accumulator (`bench/ingest.py`, issue 16).
"""

from __future__ import annotations

from collections.abc import Sequence

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
    rgb = _as_rgb(image)
    height, width = rgb.shape[:2]
    pixels = height * width
    flat = np.ascontiguousarray(rgb).reshape(pixels, 3)
    channels = flat.astype(np.float64)
    sums = np.ones(pixels) @ channels  # per channel; exact, the values are integers below 2**53
    values_mean, values_std = _mean_std(channels.ravel())
    # Elementwise in a fixed order, not a BLAS product: the same float32 values on every machine
    # and numpy build (a BLAS kernel may fuse or reorder the three products).
    # Channel planes (contiguous) make it 4x faster than strided columns.
    planes = flat.T.astype(np.float32)
    grey = planes[0] * _LUMA[0]
    grey += planes[1] * _LUMA[1]
    grey += planes[2] * _LUMA[2]
    grey_mean, grey_std = _mean_std(grey.astype(np.float64))
    return {
        "sharpness": laplacian_std(grey.reshape(height, width)),
        "snr": values_mean / values_std if values_std > 0.0 else 0.0,
        "sizeInBytes": float(size_in_bytes),
        "width": float(width),
        "height": float(height),
        "meanRed": float(sums[0]) / pixels,
        "meanGreen": float(sums[1]) / pixels,
        "meanBlue": float(sums[2]) / pixels,
        "contrast": grey_std / grey_mean if grey_mean > 0.0 else 0.0,
    }


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
