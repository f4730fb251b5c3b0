"""The two locations of a run, checked before any work.

The input must be readable and hold samples, the lightly location must be writable, and the
outputs must never land inside the input.

Each check answers in seconds: the input is listed only until its first sample file (or for a
few seconds at most, after which the run's own listing decides), and the lightly location gets
one small probe file, written and deleted again. The checks leave both locations exactly as
they were (a dry run, or a run refused before any work, writes nothing): no folder is created.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid

from lightly_ray.errors import StorageError
from lightly_ray.pipeline.input_kinds import (
    SAMPLE_EXTENSIONS,
    describe_counts,
    extension_counts,
    is_sample_file,
)
from lightly_ray.storage import Location
from lightly_ray.storage.urls import StorageUrl

LIGHTLY_FOLDER = ".lightly"
SAMPLE_SEARCH_SECONDS = 5.0
SAMPLE_SEARCH_FILES = 200_000
PROBE_CONTENT = b"lightly_ray write check\n"


def check_locations(input_location: Location, lightly_location: Location, *, verify: bool) -> None:
    """Refuse locations a run cannot use.

    Args:
        input_location: The input (read-only).
        lightly_location: The lightly location (read-write).
        verify: Also check that the input holds sample files and that the lightly location can
            be written (`worker_config.datasource.bypass_verify` turns this off); the overlap
            check needs no access and always runs.

    Raises:
        StorageError: Naming the location and what to change.

    """
    refuse_outputs_in_input(input_location, lightly_location)
    if verify:
        check_input_has_samples(input_location)
        check_writable(lightly_location)


def refuse_outputs_in_input(input_location: Location, lightly_location: Location) -> None:
    """Refuse a lightly location whose `.lightly/` folder would lie inside the input (or hold it)."""
    source, target = input_location.parsed, lightly_location.parsed
    if not _same_store(source, target):
        return
    outputs = _join(target.prefix, LIGHTLY_FOLDER)
    if _contains(source.prefix, outputs) or _contains(outputs, source.prefix):
        raise StorageError(
            f"the lightly location '{lightly_location.url}' lies inside the input '{input_location.url}': "
            f"its outputs ({LIGHTLY_FOLDER}/) would be written into the input, which lightly_ray never "
            "writes. Give --lightly a folder or prefix outside the input"
        )


def check_input_has_samples(location: Location) -> None:
    """The input exists, can be listed and holds at least one sample file.

    Raises:
        StorageError: When the input is missing, is not a folder, cannot be listed, or holds no
            sample file (the message counts what it holds instead).

    """
    if location.is_local:
        if not os.path.exists(location.root):
            raise StorageError(f"input location '{location.url}' does not exist")
        if not os.path.isdir(location.root):
            raise StorageError(f"input location '{location.url}' is a file, not a folder")
    deadline = time.monotonic() + SAMPLE_SEARCH_SECONDS
    others: list[str] = []
    for position, listed in enumerate(location.list_files()):  # hidden files are not listed
        if is_sample_file(listed.path):
            return
        others.append(listed.path)
        if position >= SAMPLE_SEARCH_FILES or time.monotonic() > deadline:
            return  # a large input: the run's own listing decides
    looked_for = (
        f"looked for {', '.join(SAMPLE_EXTENSIONS)} in any case; hidden files and folders are skipped"
    )
    found = f"it holds {describe_counts(extension_counts(others))}" if others else "it is empty"
    raise StorageError(f"no image or video files in input location '{location.url}': {found} ({looked_for})")


def check_writable(location: Location) -> None:
    """Check that a run may write the lightly location, leaving it exactly as it was.

    On an object store, one small probe object is written in `.lightly/` and deleted again
    (a store has no folders to create). On a local disk no folder is created: the probe is an
    unnamed temporary file in `.lightly/`, or, while that does not exist yet, in the nearest
    folder above it that does (where the run would create it).

    Raises:
        StorageError: When the probe cannot be written.

    """
    try:
        if location.is_local:
            _probe_local_folder(os.path.join(location.root, LIGHTLY_FOLDER))
        else:
            probe = f"{LIGHTLY_FOLDER}/.write-check-{uuid.uuid4().hex[:8]}"
            location.write_bytes(probe, PROBE_CONTENT)
            location.delete(probe)
    except (OSError, StorageError) as error:
        raise StorageError(
            f"lightly location '{location.url}' is not writable: {error}. Give --lightly a location "
            "this machine (and every Ray node) may write, or set worker_config.datasource.bypass_verify=true "
            "to skip this check when only the cluster's nodes may write there"
        ) from None


def _probe_local_folder(target: str) -> None:
    """Write a temporary file in `target`, or in its nearest existing parent; create nothing.

    The file has no name where the file system allows it (O_TMPFILE), else a hidden one that
    is removed at once; either way it is gone when this returns.

    Raises:
        StorageError: When the nearest existing path is not a folder, or cannot be written.

    """
    folder = target
    while not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not os.path.isdir(folder):
        raise StorageError(f"cannot create '{target}': '{folder}' is not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".lightly-write-check-") as probe:
            probe.write(PROBE_CONTENT)
            probe.flush()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise StorageError(f"cannot write in '{folder}': {reason}") from None


def _same_store(first: StorageUrl, second: StorageUrl) -> bool:
    if first.scheme != second.scheme or first.bucket != second.bucket:
        return False
    return not (first.account and second.account and first.account != second.account)


def _join(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}" if prefix.strip("/") else (f"/{name}" if prefix else name)


def _contains(outer: str, inner: str) -> bool:
    """Whether the key or path prefix `inner` lies at or below `outer`."""
    stripped = outer.rstrip("/")
    return not stripped or inner == outer or inner.startswith(stripped + "/")
