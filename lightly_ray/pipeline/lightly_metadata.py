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

A greyscale image (shape (height, width)) counts as R = G = B; an alpha channel is ignored. Work
is vectorised numpy: float32 planes, float64 reductions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


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
    channels = rgb.astype(np.float32)
    red, green, blue = channels[..., 0], channels[..., 1], channels[..., 2]
    grey = LUMA_WEIGHTS[0] * red + LUMA_WEIGHTS[1] * green + LUMA_WEIGHTS[2] * blue
    values_mean = float(channels.mean(dtype=np.float64))
    values_std = float(channels.std(dtype=np.float64))
    grey_mean = float(grey.mean(dtype=np.float64))
    grey_std = float(grey.std(dtype=np.float64))
    return {
        "sharpness": laplacian_std(grey),
        "snr": values_mean / values_std if values_std > 0.0 else 0.0,
        "sizeInBytes": float(size_in_bytes),
        "width": float(width),
        "height": float(height),
        "meanRed": float(red.mean(dtype=np.float64)),
        "meanGreen": float(green.mean(dtype=np.float64)),
        "meanBlue": float(blue.mean(dtype=np.float64)),
        "contrast": grey_std / grey_mean if grey_mean > 0.0 else 0.0,
    }


def laplacian_std(grey: npt.NDArray[np.floating]) -> float:
    """Population standard deviation of the 3x3 Laplacian of a grey image (valid pixels only).

    Args:
        grey: Array of shape (height, width).

    Returns:
        The standard deviation; 0 when the image is smaller than 3x3.
    """
    height, width = grey.shape
    if height < 3 or width < 3:
        return 0.0
    plane = np.asarray(grey, dtype=np.float32)
    centre = plane[1:-1, 1:-1]
    neighbours = np.zeros_like(centre)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy != 1 or dx != 1:
                neighbours += plane[dy : dy + height - 2, dx : dx + width - 2]
    laplacian = 8.0 * centre - neighbours
    return float(laplacian.std(dtype=np.float64))


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
