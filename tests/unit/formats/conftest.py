from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lightly_ray.storage import Location


@pytest.fixture
def lightly(tmp_path: Path) -> Location:
    """A writable local lightly location."""
    return Location(str(tmp_path), writable=True)


def write_json(location: Location, path: str, value: Any) -> None:
    location.write_bytes(path, json.dumps(value).encode())
