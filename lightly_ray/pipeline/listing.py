"""Listing: find the input's image files and cut them into Ray Data blocks."""

from __future__ import annotations

import pyarrow as pa
import ray.data

from lightly_ray.storage import Location

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

LISTING_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("mtime_ns", pa.int64()),
    ]
)


def list_images(location: Location) -> pa.Table:
    """List every image file of a location, sorted by name.

    Args:
        location: The input location.

    Returns:
        A table with columns name (path relative to the root), size (bytes) and mtime_ns.
        Sorting by name makes runs deterministic: candidate index 0 is the first name.

    """
    names: list[str] = []
    sizes: list[int] = []
    mtimes: list[int | None] = []
    for listed in location.list_files():
        if listed.path.lower().endswith(IMAGE_EXTENSIONS):
            names.append(listed.path)
            sizes.append(listed.size)
            mtimes.append(listed.mtime_ns)
    table = pa.table({"name": names, "size": sizes, "mtime_ns": mtimes}, schema=LISTING_SCHEMA)
    return table.sort_by("name")


def listing_dataset(listing: pa.Table, *, rows_per_block: int) -> ray.data.Dataset:
    """Turn a listing into a Ray dataset whose blocks decode in parallel.

    Args:
        listing: Output of `list_images`.
        rows_per_block: Files per block; each block becomes one decode task.

    Returns:
        A dataset with the listing's columns.

    """
    blocks = [
        listing.slice(offset, rows_per_block) for offset in range(0, max(listing.num_rows, 1), rows_per_block)
    ]
    return ray.data.from_arrow(blocks)
