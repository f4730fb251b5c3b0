"""Two groups of generated images that differ in shape, not in colour: stripes and discs.

Every image has its own random background and foreground colour, stripe orientation and
period, or number, places and sizes of discs. Colour dominates what a randomly initialised
network sees, so its embeddings group the images poorly by shape; a network trained with
SimCLR's colour augmentations learns to look past colour.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def shape_image(group: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """One image of group 0 (stripes) or 1 (discs), uint8 (size, size, 3)."""
    rows, cols = np.mgrid[0:size, 0:size]
    image = np.empty((size, size, 3), np.uint8)
    image[:] = rng.integers(0, 256, 3)
    if group == 0:
        period, angle = rng.integers(4, 9), rng.uniform(0, np.pi)
        along = cols * np.cos(angle) + rows * np.sin(angle) + rng.uniform(0, period)
        mask = (along % period) < period / 2
    else:
        mask = np.zeros((size, size), bool)
        for _ in range(rng.integers(1, 4)):
            centre_x, centre_y = rng.uniform(size / 4, size * 3 / 4, 2)
            radius = rng.uniform(size / 6, size / 4)
            mask |= (cols - centre_x) ** 2 + (rows - centre_y) ** 2 < radius * radius
    image[mask] = rng.integers(0, 256, 3)
    return image


def write_shape_groups(folder: Path, per_group: int, seed: int = 0, size: int = 32) -> dict[str, int]:
    """Write `per_group` PNGs of each group to `folder`; return the group of every file name."""
    rng = np.random.default_rng(seed)
    groups = {}
    for index in range(2 * per_group):
        group = index % 2
        name = f"{'stripes' if group == 0 else 'discs'}_{index:04d}.png"
        buffer = io.BytesIO()
        Image.fromarray(shape_image(group, rng, size)).save(buffer, format="PNG")
        (folder / name).write_bytes(buffer.getvalue())
        groups[name] = group
    return groups


def knn_accuracy(embeddings: np.ndarray, groups: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour (cosine) accuracy of predicting each image's group."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.argsort(-similarity, axis=1)[:, :k]
    votes = groups[neighbours].mean(axis=1)
    return float(((votes > 0.5).astype(int) == groups).mean())
