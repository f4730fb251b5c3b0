"""Listing: find the input's image and video files, filter them, and count the others.

Files that are not read (other extensions) are counted per extension, so that report.json
says what the input held beside the samples instead of letting them vanish.

On object stores a large input is listed in parallel: the driver lists one level of folders
(descending while there is a single folder and no files), and each folder is listed by its
own Ray task, which filters its names and returns them as an Arrow table. Names never pass
through one Python list on the driver; the driver holds the final listing as Arrow columns
(about 50 bytes per file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import ray
import ray.data

from lightly_ray.errors import StorageError
from lightly_ray.formats.relevant_filenames import RelevantFilenames
from lightly_ray.pipeline.input_kinds import (
    SAMPLE_EXTENSIONS,
    extension_of,
    is_hidden,
    is_sample_file,
    is_video_file,
)
from lightly_ray.progress import logger
from lightly_ray.storage import ListedFile, Location

ARROW_CHUNK_ROWS = 65_536
MAX_SPLIT_DEPTH = 3

LISTING_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("mtime_ns", pa.int64()),
    ]
)


@dataclass
class Listing:
    """What listing the input found.

    Attributes:
        table: The sample files, sorted by name: columns name (path relative to the root),
            size (bytes) and mtime_ns.
        other_files: Visible files that are not read, counted per extension (lower case,
            "(none)" for names without one), before the relevant filenames filter.

    """

    table: pa.Table
    other_files: Counter[str] = field(default_factory=Counter)


def list_images(
    location: Location, relevant: RelevantFilenames | None = None, *, parallel: bool = False
) -> Listing:
    """List every image file of a location that is relevant, sorted by name.

    Args:
        location: The input location.
        relevant: Keep only these files (the relevant filenames file); None keeps all.
        parallel: List folders of object stores in parallel Ray tasks (needs a Ray session).

    Returns:
        The sample files, sorted by name (so that runs are deterministic: candidate index 0 is
        the first name), and the counts of the other files.
    """
    folders = relevant.listing_folders() if relevant is not None else [""]
    if not parallel or location.is_local:
        parts = [_filtered_table(location.list_files(folder), relevant) for folder in folders]
    else:
        parts = _list_in_tasks(location, folders, relevant)
    tables = [table for table, _ in parts]
    table = pa.concat_tables(tables) if tables else LISTING_SCHEMA.empty_table()
    other_files: Counter[str] = Counter()
    for _, counts in parts:
        other_files.update(counts)
    return Listing(table=table.sort_by("name").combine_chunks(), other_files=other_files)


def _list_in_tasks(
    location: Location, folders: list[str], relevant: RelevantFilenames | None
) -> list[tuple[pa.Table, Counter[str]]]:
    direct: list[ListedFile] = []
    split: list[str] = []
    for folder in folders:
        files, subfolders = _split_point(location, folder)
        direct += files
        split += [sub.rstrip("/") for sub in subfolders if not is_hidden(sub)]
    refs = [_list_folder_task.remote(location, folder, relevant) for folder in split]
    return [_filtered_table(direct, relevant), *ray.get(refs)]


def _split_point(location: Location, folder: str) -> tuple[list[ListedFile], list[str]]:
    """Files above the split, and the folders to list in parallel (descend single folders)."""
    files: list[ListedFile] = []
    for _ in range(MAX_SPLIT_DEPTH):
        level_files, subfolders = location.list_level(folder)
        files += level_files
        if len(subfolders) != 1 or level_files:
            return files, subfolders
        folder = subfolders[0].rstrip("/")
    return files, [f"{folder}/"]


@ray.remote(num_cpus=0.25)
def _list_folder_task(
    location: Location, folder: str, relevant: RelevantFilenames | None
) -> tuple[pa.Table, Counter[str]]:
    return _filtered_table(location.list_files(folder), relevant)


def _filtered_table(
    listed: Iterable[ListedFile], relevant: RelevantFilenames | None
) -> tuple[pa.Table, Counter[str]]:
    """Keep visible image files (and relevant ones) in Arrow chunks; count the other files."""
    others: Counter[str] = Counter()
    chunks: list[pa.RecordBatch] = []
    names: list[str] = []
    sizes: list[int] = []
    mtimes: list[int | None] = []

    def flush() -> None:
        if not names:
            return
        batch = pa.record_batch([names, sizes, mtimes], schema=LISTING_SCHEMA)
        if relevant is not None:
            batch = batch.filter(pa.array(relevant.mask(list(names))))
        chunks.append(batch)
        names.clear()
        sizes.clear()
        mtimes.clear()

    for item in listed:
        if is_sample_file(item.path):
            names.append(item.path)
            sizes.append(item.size)
            mtimes.append(item.mtime_ns)
            if len(names) >= ARROW_CHUNK_ROWS:
                flush()
        elif not is_hidden(item.path):
            others[extension_of(item.path)] += 1
    flush()
    return pa.Table.from_batches(chunks, schema=LISTING_SCHEMA), others


def check_listing(listing: pa.Table, input_location: Location, relevant: RelevantFilenames | None) -> None:
    """Refuse an empty listing (naming what was looked for) and say what it holds.

    Raises:
        StorageError: When no image or video file was found.
    """
    if listing.num_rows == 0:
        where = " that the relevant filenames file keeps" if relevant is not None else ""
        raise StorageError(
            f"no image or video files{where} in input '{input_location.url}' "
            f"(looked for {', '.join(SAMPLE_EXTENSIONS)}, hidden folders skipped)"
        )
    videos = sum(1 for name in listing.column("name").to_pylist() if is_video_file(name))
    kept = f" that {relevant.source} keeps" if relevant is not None else ""
    logger.info("found %d image files and %d video files%s", listing.num_rows - videos, videos, kept)
    if relevant is not None:
        missing = relevant.missing_files(listing.column("name").to_pylist())
        if missing:
            logger.warning(
                "%s: %d listed file%s not in the input (e.g. %s)",
                relevant.source,
                len(missing),
                " is" if len(missing) == 1 else "s are",
                missing[0],
            )
