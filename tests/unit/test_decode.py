from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from lightly_ray.pipeline.decode import decode_batch
from lightly_ray.pipeline.listing import list_images
from lightly_ray.storage import Location


def _png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_marks_corrupt_files_and_keeps_going(tmp_path: Path) -> None:
    good = _png((255, 0, 0))
    (tmp_path / "good.png").write_bytes(good)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.jpg").write_bytes(b"this is not an image")
    (tmp_path / "notes.txt").write_bytes(b"ignored: not an image extension")
    location = Location(str(tmp_path), writable=False)
    listed = list_images(location)
    assert dict(listed.other_files) == {".txt": 1}
    listing = listed.table
    assert listing.column("name").to_pylist() == [
        "empty.jpg",
        "good.png",
        "text.jpg",
        "truncated.png",
    ]
    batch = {name: listing.column(name).to_numpy(zero_copy_only=False) for name in listing.column_names}
    (tmp_path / "gone.png").write_bytes(good)
    batch["name"] = np.append(batch["name"], "gone.png")
    (tmp_path / "gone.png").unlink()
    out = decode_batch(batch, location=location, input_size=16)
    assert out["ok"].tolist() == [False, True, False, False, False]
    assert out["image"].shape == (5, 16, 16, 3)
    assert out["image"][1, 8, 8].tolist() == [255, 0, 0]
    assert (out["width"][1], out["height"][1]) == (40, 30)
    assert "empty" in out["error"][0]
    assert out["error"][2].startswith("UnidentifiedImageError: cannot identify image file")
    assert out["error"][3].startswith("OSError:") and "truncated" in out["error"][3].lower()
    assert "no longer exists" in out["error"][4]
    assert out["error"][1] == ""
    assert len(out["content_hash"][1]) == 32


def test_grey_and_rgba_images_become_rgb(tmp_path: Path) -> None:
    for name, mode in (("grey.png", "L"), ("alpha.png", "RGBA"), ("palette.png", "P")):
        buffer = io.BytesIO()
        Image.new(mode, (8, 8)).save(buffer, format="PNG")
        (tmp_path / name).write_bytes(buffer.getvalue())
    location = Location(str(tmp_path), writable=False)
    listing = list_images(location).table
    batch = {name: listing.column(name).to_numpy(zero_copy_only=False) for name in listing.column_names}
    out = decode_batch(batch, location=location, input_size=4)
    assert out["ok"].all()
    assert out["image"].shape == (3, 4, 4, 3)
