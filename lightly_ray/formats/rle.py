"""Run-length encoding of binary masks, as used by segmentation predictions.

The H x W mask is flattened row-major; the encoding lists the lengths of alternating runs,
starting with a run of 0s (of length 0 when the mask starts with a 1)::

    [[0, 0, 1, 1],
     [0, 1, 1, 1],      ->  [2, 2, 1, 3, 3, 1]
     [0, 0, 0, 1]]

The lengths add up to H * W. Runs after the first should be positive; a zero-length run in the
middle is accepted when decoding (it merges its neighbours) because it is unambiguous.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from lightly_ray.formats.problems import FieldError, child_key, expected


def rle_encode(mask: npt.ArrayLike) -> list[int]:
    """Encode a binary mask.

    Args:
        mask: A 2-D array; non-zero values count as 1.

    Returns:
        The run lengths, starting with the run of 0s.

    """
    flat = np.asarray(mask).reshape(-1) != 0
    if flat.size == 0:
        return [0]
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return [int(run) for run in runs]


def rle_decode(
    rle: list[int] | npt.NDArray[np.integer[Any]], height: int, width: int
) -> npt.NDArray[np.bool_]:
    """Decode run lengths into an H x W boolean mask.

    Args:
        rle: Run lengths, starting with the run of 0s.
        height: Mask height in pixels.
        width: Mask width in pixels.

    Returns:
        A boolean array of shape (height, width).

    Raises:
        ValueError: When a run is negative or the runs do not add up to height * width.

    """
    runs = np.asarray(rle, dtype=np.int64).reshape(-1)
    if np.any(runs < 0):
        raise ValueError("run lengths must be non-negative")
    total = int(runs.sum())
    if total != height * width:
        raise ValueError(f"run lengths add up to {total}, expected {height} * {width} = {height * width}")
    values = np.arange(runs.size) % 2 == 1
    return np.repeat(values, runs).reshape(height, width)


def check_rle(value: Any, key: str, image_size: tuple[int, int] | None = None) -> tuple[int, ...]:
    """Validate an RLE read from JSON.

    Args:
        value: The parsed JSON value.
        key: Where it was found, for messages.
        image_size: (width, height) of the image when known: the runs must then add up to
            width * height. Without it, the runs must only add up to a positive number.

    Returns:
        The run lengths.

    Raises:
        FieldError: When the value is not a non-empty list of non-negative integers, or its
            total does not fit the image.

    """
    if not isinstance(value, list) or not value:
        raise FieldError(key, expected("a non-empty list of run lengths (RLE)", value))
    for index, run in enumerate(value):
        if isinstance(run, bool) or not isinstance(run, int) or run < 0:
            raise FieldError(child_key(key, index), expected("a non-negative integer run length", run))
    total = sum(value)
    if image_size is not None:
        width, height = image_size
        if total != width * height:
            raise FieldError(
                key,
                f"expected run lengths adding up to width * height = {width} * {height} = {width * height}, "
                f"got {total}",
            )
    elif total == 0:
        raise FieldError(key, "expected run lengths adding up to a positive number of pixels, got 0")
    return tuple(value)
