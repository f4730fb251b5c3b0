"""What every store provides to a `Location`, and the local-disk implementation.

A backend works on full keys: absolute POSIX paths for the local disk, object keys inside the
bucket or container for object stores. `Location` adds the root prefix, path safety and the
read-only rule on top.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

SPOOL_IN_MEMORY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """One object (file) found by listing.

    Attributes:
        key: Full key (or absolute local path).
        size: Size in bytes.
        mtime_ns: Last modification, nanoseconds since the epoch, when the store reports it.
        etag: The store's entity tag, when it reports one (changes when the content changes).
    """

    key: str
    size: int
    mtime_ns: int | None
    etag: str | None = None


class StorageBackend(Protocol):
    """Operations a store must support. Keys never start with a slash on object stores."""

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with `prefix`, page by page, without holding them."""
        ...

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """One level below `prefix`: its objects, and its sub-prefixes ("folders", ending in '/')."""
        ...

    def read(self, key: str) -> bytes:
        """Read a whole object; FileNotFoundError when it does not exist."""
        ...

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Read `length` bytes from `start` (fewer at the end); FileNotFoundError when missing."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes; FileNotFoundError when it does not exist."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object exists."""
        ...

    def delete(self, key: str) -> None:
        """Delete an object; a missing object is not an error."""
        ...

    def open_atomic_output(self, key: str) -> contextlib.AbstractContextManager[IO[bytes]]:
        """A writable stream whose content appears under `key` only if the block succeeds."""
        ...

    def read_url(self, key: str, expires_s: int) -> str:
        """A URL that reads the object without other credentials, valid for `expires_s`."""
        ...


class LocalBackend:
    """The local disk (or any mounted file system)."""

    def read_url(self, key: str, expires_s: int) -> str:
        """The file's absolute path: a local file needs no signature and never expires."""
        return os.path.abspath(key)

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Walk the folder `prefix` (an absolute path) recursively, in sorted order per folder."""
        if not os.path.isdir(prefix):
            return
        for folder, subfolders, files in os.walk(prefix):
            subfolders.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue  # deleted while listing
                yield ObjectInfo(key=path.replace(os.sep, "/"), size=stat.st_size, mtime_ns=stat.st_mtime_ns)

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """Files and sub-folders (each ending in '/') of the folder `prefix`."""
        if not os.path.isdir(prefix):
            return [], []
        files, folders = [], []
        with os.scandir(prefix) as entries:
            for entry in entries:
                path = entry.path.replace(os.sep, "/")
                if entry.is_dir():
                    folders.append(f"{path}/")
                elif entry.is_file():
                    stat = entry.stat()
                    files.append(ObjectInfo(key=path, size=stat.st_size, mtime_ns=stat.st_mtime_ns))
        return sorted(files, key=lambda info: info.key), sorted(folders)

    def read(self, key: str) -> bytes:
        """Read a file."""
        with open(key, "rb") as handle:
            return handle.read()

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Read part of a file."""
        with open(key, "rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def size(self, key: str) -> int:
        """The file's size."""
        return os.path.getsize(key)

    def exists(self, key: str) -> bool:
        """Whether a regular file exists at `key`."""
        return os.path.isfile(key)

    def delete(self, key: str) -> None:
        """Delete a file if it exists."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(key)

    @contextlib.contextmanager
    def open_atomic_output(self, key: str) -> Iterator[IO[bytes]]:
        """Write to a temporary file beside `key` and rename it over `key` at the end."""
        folder = os.path.dirname(key)
        os.makedirs(folder, exist_ok=True)
        temporary = os.path.join(folder, f".{os.path.basename(key)}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            with open(temporary, "wb") as handle:
                yield handle
            os.replace(temporary, key)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)
            raise


class SpooledUpload:
    """Base of object-store backends: buffer a write, upload it in one request when complete.

    Object stores publish an object only when its upload completes (a single PUT, or the
    completion of a multipart/resumable/block upload), so a failed block publishes nothing.
    """

    def upload(self, key: str, stream: IO[bytes], size: int) -> None:
        """Upload `size` bytes from `stream` to `key`."""
        raise NotImplementedError

    @contextlib.contextmanager
    def open_atomic_output(self, key: str) -> Iterator[IO[bytes]]:
        """Spool the block's writes (in memory up to 64 MiB, then on disk), then upload."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
            yield spool  # type: ignore[misc]
            size = spool.tell()
            spool.seek(0)
            self.upload(key, spool, size)  # type: ignore[arg-type]
