"""What the preflight tests check: a config and an input folder whose files nothing decodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SELECTION: dict[str, Any] = {
    "n_samples": 1,
    "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
}


def undecoded_images(folder: Path) -> Path:
    """Two files named as images, for checks that list the input but never decode it."""
    folder.mkdir()
    for index in range(2):
        (folder / f"img_{index}.png").write_bytes(b"never decoded by the checks")
    return folder
