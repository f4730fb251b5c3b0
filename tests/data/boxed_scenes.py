"""Generated images with coloured rectangles at known places, and a detection task naming them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

TASK = "shapes"
COLOURS = {0: (220, 30, 30), 1: (30, 30, 220)}  # category 0 red, 1 blue
WIDTH, HEIGHT = 96, 64


def boxed_scene(
    root: Path, lightly: Path, count: int = 4, task: str = TASK
) -> dict[str, list[dict[str, Any]]]:
    """Images with two rectangles each and the task's prediction files naming them.

    Image 0 also has a box without area and one outside the image (skipped, reported).

    Returns:
        Each image's predictions, by file name.
    """
    rng = np.random.default_rng(7)
    folder = lightly / ".lightly" / "predictions"
    (folder / task).mkdir(parents=True, exist_ok=True)
    (folder / "tasks.json").write_text(json.dumps([task]))
    schema = {
        "task_type": "object-detection",
        "categories": [{"id": 0, "name": "red"}, {"id": 1, "name": "blue"}],
    }
    (folder / task / "schema.json").write_text(json.dumps(schema))
    scenes = {}
    for index in range(count):
        name = f"img_{index}.png"
        image = Image.new("RGB", (WIDTH, HEIGHT), (235, 235, 235))
        draw = ImageDraw.Draw(image)
        predictions = []
        for category, (x, y) in enumerate(((4 + index, 6), (50, 20 + index))):
            w, h = 30 + 2 * index, 24
            draw.rectangle((x, y, x + w - 1, y + h - 1), fill=COLOURS[category])
            predictions.append(
                {"category_id": category, "bbox": [x, y, w, h], "score": float(rng.uniform(0.5, 1))}
            )
        if index == 0:  # a box without area and one outside the image: skipped, reported
            predictions.append({"category_id": 0, "bbox": [10, 10, 0, 5], "score": 0.5})
            predictions.append({"category_id": 1, "bbox": [200, 10, 10, 10], "score": 0.5})
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        (root / name).write_bytes(buffer.getvalue())
        (folder / task / f"img_{index}.json").write_text(
            json.dumps({"file_name": name, "predictions": predictions})
        )
        scenes[name] = predictions
    return scenes
