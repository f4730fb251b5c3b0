"""The write check of the lightly location leaves nothing behind, on every kind of storage."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lightly_ray.preflight.locations import check_writable
from lightly_ray.storage import Location


@pytest.mark.parametrize("scheme", ["local", "s3", "gs", "az"])
def test_the_write_check_leaves_the_lightly_location_as_it_was(
    scheme: str, make_url: Callable[[str, str], str]
) -> None:
    location = Location(make_url(scheme, "lr-lightly"), writable=True)
    location.write_bytes("kept.txt", b"kept")
    check_writable(location)
    listed = [listed.path for listed in location.list_files(include_hidden=True)]
    assert listed == ["kept.txt"], "the probe is deleted again"
    assert location.list_folders() == [], "no .lightly/ folder is left"
