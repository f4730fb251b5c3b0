"""The example dataset and config behind `lightly-ray demo`.

The dataset is made offline from photographs that scikit-image and scikit-learn ship (the
astronaut, a cat, coffee, a rocket, coins, a horse, the Hubble deep field, a retina, faces of
the LFW subset, a Chinese temple, a flower, textures...), plus variants of them (crops, flips,
colour shifts) and generated drawings, to reach a few hundred images. It also holds one exact
duplicate and two corrupt files, so the run shows its corruptness check and duplicate removal.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from lightly_ray.errors import LightlyRayError

SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)
VARIANTS_PER_PHOTO = 8
FACES = 60
DRAWINGS = 80
MAX_SIDE = 256

DEMO_CONFIG: dict[str, Any] = {
    "worker_config": {"enable_corruptness_check": True, "remove_exact_duplicates": True},
    "selection_config": {
        "n_samples": 30,
        "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
    },
    # Random weights: ImageNet weights cannot be downloaded on an offline machine. With the
    # weights in the torch hub cache, drop this line to embed with them.
    "lightly_config": {
        "model": {"name": "resnet-18", "weights": "random"},
        "collate": {"input_size": 64},
    },
}


def prepare_example_dataset(folder: Path, seed: int = 0) -> dict[str, int]:
    """Write the example dataset into `folder` (created; existing files are overwritten).

    Args:
        folder: Where to write the images, in sub-folders photos/, variants/, faces/, drawings/.
        seed: Seed of the variants and drawings.

    Returns:
        How many files of each kind were written.

    """
    data = _import_demo_extra("skimage.data")
    datasets = _import_demo_extra("sklearn.datasets")
    rng = np.random.default_rng(seed)
    photos = [(name, _as_rgb(getattr(data, name)())) for name in SKIMAGE_PHOTOS]
    photos += [
        (Path(path).stem, image)
        for path, image in zip(
            datasets.load_sample_images().filenames, datasets.load_sample_images().images, strict=True
        )
    ]
    counts = {"photos": 0, "variants": 0, "faces": 0, "drawings": 0, "duplicates": 0, "corrupt": 0}
    for name, pixels in photos:
        _save(_shrink(Image.fromarray(pixels)), folder / "photos" / f"{name}.jpg")
        counts["photos"] += 1
        for variant in range(VARIANTS_PER_PHOTO):
            image = _variant(Image.fromarray(pixels), rng)
            _save(image, folder / "variants" / f"{name}_{variant:02d}.jpg")
            counts["variants"] += 1
    faces = data.lfw_subset()
    for index in range(min(FACES, len(faces))):
        face = Image.fromarray((faces[index] * 255).astype(np.uint8)).resize((100, 100))
        _save(face.convert("RGB"), folder / "faces" / f"face_{index:03d}.png")
        counts["faces"] += 1
    for index in range(DRAWINGS):
        _save(_drawing(rng), folder / "drawings" / f"drawing_{index:03d}.png")
        counts["drawings"] += 1
    (folder / "photos" / "astronaut_copy.jpg").write_bytes((folder / "photos" / "astronaut.jpg").read_bytes())
    counts["duplicates"] = 1
    (folder / "broken").mkdir(parents=True, exist_ok=True)
    (folder / "broken" / "empty.jpg").write_bytes(b"")
    truncated = (folder / "photos" / "chelsea.jpg").read_bytes()
    (folder / "broken" / "truncated.jpg").write_bytes(truncated[: len(truncated) // 3])
    counts["corrupt"] = 2
    return counts


def _import_demo_extra(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LightlyRayError(
            f"the demo needs {module.split('.')[0]}: install it with pip install 'lightly-ray[demo]'"
        ) from None


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype != np.uint8:
        low, high = float(pixels.min()), float(pixels.max())
        pixels = ((pixels - low) / max(high - low, 1e-9) * 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    return np.ascontiguousarray(pixels[..., :3])


def _shrink(image: Image.Image) -> Image.Image:
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    return image


def _variant(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = image.size
    scale = rng.uniform(0.55, 0.9)
    crop_w, crop_h = int(width * scale), int(height * scale)
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    cropped = image.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        cropped = cropped.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = np.asarray(_shrink(cropped), dtype=np.float64)
    shifted = pixels * rng.uniform(0.75, 1.25, size=3) + rng.uniform(-20, 20)
    return Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8))


def _drawing(rng: np.random.Generator) -> Image.Image:
    background = tuple(int(value) for value in rng.integers(0, 256, size=3))
    image = Image.new("RGB", (128, 128), background)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7))):
        box = sorted(rng.integers(0, 128, size=2).tolist()) + sorted(rng.integers(0, 128, size=2).tolist())
        x0, x1, y0, y1 = box
        colour = tuple(int(value) for value in rng.integers(0, 256, size=3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 10)))
    return image


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG" if path.suffix == ".jpg" else "PNG", quality=90)
    path.write_bytes(buffer.getvalue())
