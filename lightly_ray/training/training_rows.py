"""Which rows of a decoded batch training uses (no torch: the driver counts them too)."""

from __future__ import annotations

import numpy as np

from lightly_ray.pipeline.batch import Batch
from lightly_ray.pipeline.crops import PARENT


def training_rows(batch: Batch, crops: bool) -> np.ndarray:
    """Which rows of a batch training uses: those that decoded, and images or (with `crops`) crops.

    A run that cuts object crops has both in its rows: crops have a `parent` image, images none.
    Rows without a `parent` column are images (or rows chosen already, passed with `crops`
    False): those that decoded are kept.

    Raises:
        ValueError: With `crops` on rows without a `parent` column, which cannot tell crops.
    """
    count = len(next(iter(batch.values())))
    keep = np.array(batch["ok"], dtype=bool) if "ok" in batch else np.ones(count, dtype=bool)  # a copy
    if PARENT in batch:
        is_crop = np.asarray(batch[PARENT] != "", dtype=bool)
        keep &= is_crop if crops else ~is_crop
    elif crops:
        raise ValueError(f"rows without a {PARENT!r} column cannot tell object crops from images")
    return keep
