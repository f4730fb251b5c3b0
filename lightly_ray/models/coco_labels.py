"""torchvision's COCO detector labels and the seven pretagging classes they map to (no torch)."""

from __future__ import annotations

import numpy as np

from lightly_ray.formats.pretag_schema import PRETAG_CLASSES

# torchvision's COCO label indices (91 with background and gaps) of the seven classes.
COCO_LABELS = {"person": 1, "bicycle": 2, "car": 3, "motorcycle": 4, "bus": 6, "train": 7, "truck": 8}
COCO_CLASSES = 91
MAX_DETECTIONS = 100  # torchvision's detections per image


def coco_to_pretag() -> np.ndarray:
    """Array of shape (91,), int64: per COCO label index, its index in PRETAG_CLASSES, or -1."""
    table = np.full(COCO_CLASSES, -1, dtype=np.int64)
    for position, name in enumerate(PRETAG_CLASSES):
        table[COCO_LABELS[name]] = position
    return table
