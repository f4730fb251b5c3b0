"""The detector's view of a decoded image, made by the decode tasks when pretagging is on.

The detector wants images far larger than the embedding's input size, so the decode tasks,
which hold each image at full resolution, also scale it so that its longer side is
`lightly_config.pretagging.image_size` (keeping the aspect ratio) and hand it on in a fixed-size
square, top-left aligned and zero-padded, with its height and width: fixed-shape columns travel
through Ray Data as plain tensors. The detector actors cut the padding off again
(`pretag.PretagImages`), so it never reaches the model.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

DETECT_IMAGE, DETECT_SHAPE = "detect_image", "detect_shape"
DETECT_COLUMNS = (DETECT_IMAGE, DETECT_SHAPE)


class DetectorInputs:
    """The detector columns of a batch of rows, filled row by row.

    Args:
        count: Rows in the batch.
        size: `lightly_config.pretagging.image_size`.
    """

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self.images = np.zeros((count, size, size, 3), dtype=np.uint8)
        self.shapes = np.zeros((count, 2), dtype=np.int32)

    def add(self, row: int, full: np.ndarray) -> None:
        """Scale one decoded image (shape (height, width, 3), uint8) into row `row`."""
        height, width = full.shape[:2]
        scale = self.size / max(height, width)
        new_height = min(self.size, max(1, round(height * scale)))
        new_width = min(self.size, max(1, round(width * scale)))
        if (new_height, new_width) != (height, width):
            image = Image.fromarray(np.ascontiguousarray(full[..., :3]))
            full = np.asarray(image.resize((new_width, new_height), Image.Resampling.BILINEAR))
        self.images[row, :new_height, :new_width] = full[..., :3]
        self.shapes[row] = (new_height, new_width)

    def columns(self) -> dict[str, np.ndarray]:
        """`detect_image` (count, size, size, 3) uint8 and `detect_shape` (count, 2) int32 (height, width)."""
        return {DETECT_IMAGE: self.images, DETECT_SHAPE: self.shapes}


__all__ = ["DETECT_COLUMNS", "DETECT_IMAGE", "DETECT_SHAPE", "DetectorInputs"]
