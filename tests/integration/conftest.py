from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.grouped_images import GROUPS, PER_GROUP, group_image


@pytest.fixture(scope="module")
def grouped_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("input")
    for group in range(GROUPS):
        for member in range(PER_GROUP):
            folder = root / f"group_{group}"
            folder.mkdir(exist_ok=True)
            (folder / f"img_{member}.png").write_bytes(group_image(group, member))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "group_0" / "img_0_copy.png").write_bytes((root / "group_0" / "img_0.png").read_bytes())
    (root / "readme.txt").write_text("not an image")
    return root
