"""Decode: read each file's bytes from storage, hash them, decode and resize the image.

Runs as a Ray Data CPU task over batches of listed files. A file that cannot be read or decoded
never fails the task: its row carries `ok=False` and the reason in `error`, and the run lists
it as corrupt.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image

from lightly_ray.config.selection import LIGHTLY_METADATA_NAMES
from lightly_ray.pipeline.batch import Batch
from lightly_ray.pipeline.detector_input import DetectorInputs
from lightly_ray.pipeline.lightly_metadata import compute_lightly_metadata
from lightly_ray.storage import Location

METADATA_COLUMN_PREFIX = "lightly_"


def decode_batch(
    batch: Batch,
    *,
    location: Location,
    input_size: int,
    detect_size: int | None = None,
    on_decoded: Callable[[int, np.ndarray], None] | None = None,
) -> Batch:
    """Read, hash, decode and resize a batch of listed image files.

    Args:
        batch: Columns name, size and mtime_ns from the listing.
        location: The input location (read-only).
        input_size: Images are resized to input_size x input_size RGB.
        detect_size: With pretagging, the detector's image size: the detector columns
            (`detector_input.DETECT_COLUMNS`) are added.
        on_decoded: Called with each decoded image's row and its full-resolution pixels (object
            crops are cut there).

    Returns:
        The input columns plus image (uint8, shape (batch, input_size, input_size, 3)),
        ok (bool), error (str, empty when ok), content_hash (hex str), width and height
        (of the original image; 0 when not decodable), and one float64 column
        `lightly_<name>` per Lightly metadata value (sharpness, snr, ...; 0 when not decodable).

    """
    names = batch["name"]
    count = len(names)
    images = np.zeros((count, input_size, input_size, 3), dtype=np.uint8)
    ok = np.zeros(count, dtype=bool)
    errors = np.full(count, "", dtype=object)
    hashes = np.full(count, "", dtype=object)
    widths = np.zeros(count, dtype=np.int32)
    heights = np.zeros(count, dtype=np.int32)
    metadata = {name: np.zeros(count, dtype=np.float64) for name in LIGHTLY_METADATA_NAMES}
    detector = DetectorInputs(count, detect_size) if detect_size is not None else None
    for row, data in enumerate(location.read_many([str(name) for name in names])):
        if isinstance(data, FileNotFoundError):
            errors[row] = "file was listed but no longer exists"
            continue
        if isinstance(data, Exception):
            errors[row] = f"cannot be read: {data}"
            continue
        hashes[row] = hashlib.blake2b(data, digest_size=16).hexdigest()
        try:
            images[row], full = decode_image(data, input_size)
        except Exception as error:  # noqa: BLE001 - any decode failure marks the file corrupt
            errors[row] = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            continue
        heights[row], widths[row] = full.shape[:2]
        if detector is not None:
            detector.add(row, full)
        if on_decoded is not None:
            on_decoded(row, full)
        for name, value in compute_lightly_metadata(full, len(data)).items():
            metadata[name][row] = value
        ok[row] = True
    return {
        **batch,
        "image": images,
        "ok": ok,
        "error": errors,
        "content_hash": hashes,
        "width": widths,
        "height": heights,
        **{f"{METADATA_COLUMN_PREFIX}{name}": values for name, values in metadata.items()},
        **(detector.columns() if detector is not None else {}),
    }


def decode_image(data: bytes, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode image bytes to a square RGB array, and the RGB image at its original size.

    Args:
        data: Encoded image (any format Pillow reads).
        input_size: Side of the output square.

    Returns:
        (pixels of shape (input_size, input_size, 3) uint8, pixels of shape (height, width, 3)
        uint8 at the original resolution, for the Lightly metadata).

    Raises:
        ValueError: For empty data or a zero-sized image.
        OSError, PIL.UnidentifiedImageError: For data Pillow cannot decode (truncated, not an image).

    """
    if not data:
        raise ValueError("file is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            width, height = opened.size
            if width == 0 or height == 0:
                raise ValueError(f"image has no pixels ({width}x{height})")
            rgb = opened.convert("RGB")
    resized = rgb.resize((input_size, input_size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8), np.asarray(rgb, dtype=np.uint8)
