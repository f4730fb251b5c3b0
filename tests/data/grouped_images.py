"""Generated images in groups: the right answer of a diversity selection is known."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

GROUPS = 5
PER_GROUP = 6
FAST_MODEL = {
    "model": {"weights": "random", "out_dim": 32},
    "collate": {"input_size": 32},
    "loader": {"batch_size": 8},
}


def group_image(group: int, member: int) -> bytes:
    """Images of one group differ by faint noise; groups differ in colour and pattern."""
    rng = np.random.default_rng(1000 * group + member)
    base = np.zeros((48, 48, 3), dtype=np.float32)
    base[..., group % 3] = 200.0
    stripes = (np.arange(48) // (3 + 4 * group)) % 2
    base[stripes.astype(bool), :, (group + 1) % 3] = 255.0 * (group / GROUPS)
    noisy = np.clip(base + rng.normal(0, 2.0, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, format="PNG")
    return buffer.getvalue()
