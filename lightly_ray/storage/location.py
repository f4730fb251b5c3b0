"""A storage location: a root URL with list, read, atomic write and existence checks.

Every read and write of a run goes through a `Location`, whatever the URL scheme, so that the
pipeline never opens paths itself and never assumes the driver and the workers share a disk:
a `Location` pickles (a pyarrow filesystem and a root) and works the same inside Ray tasks.
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from lightly_ray.errors import (
    NotYetSupportedError,
    ReadOnlyLocationError,
    StorageError,
    UnsafePathError,
)

REMOTE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")


@dataclass(frozen=True)
class ListedFile:
    """One file found by listing a location.

    Attributes:
        path: Path relative to the location's root, with forward slashes.
        size: Size in bytes.
        mtime_ns: Modification time in nanoseconds since the epoch, when the store reports one.

    """

    path: str
    size: int
    mtime_ns: int | None


class Location:
    """A root in local or object storage, opened read-only or read-write.

    Args:
        url: A local path or a URL (`file://`; object stores arrive with the storage issue).
        writable: False for the input location: every write raises ReadOnlyLocationError.

    """

    def __init__(self, url: str, *, writable: bool) -> None:
        self.url = url
        self.writable = writable
        self.filesystem, self.root = _resolve(url)

    def __repr__(self) -> str:
        mode = "read-write" if self.writable else "read-only"
        return f"Location({self.url!r}, {mode})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Re-resolve on unpickling, so that a Ray worker uses its own credential chain and no
        # secret travels inside a pickled filesystem.
        return (_reopen, (self.url, self.writable))

    def path_of(self, relative: str) -> str:
        """The filesystem path of a relative path, refusing any path that escapes the root.

        Raises:
            UnsafePathError: For absolute paths, `..` components or empty names.

        """
        return posixpath.join(self.root, safe_relative_path(relative))

    def list_files(self, prefix: str = "", *, include_hidden: bool = False) -> Iterator[ListedFile]:
        """Yield every file below `prefix`, recursively.

        Args:
            prefix: A folder relative to the root; empty for the whole location.
            include_hidden: Also yield hidden files: those with a path component (below
                `prefix`) starting with a dot, such as `.lightly/`.

        """
        base = self.path_of(prefix) if prefix else self.root
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        try:
            infos = self.filesystem.get_file_info(selector)
        except OSError as error:
            raise StorageError(f"cannot list {self._describe(prefix)}: {error}") from None
        root_length = len(self.root.rstrip("/")) + 1
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            relative = info.path[root_length:]
            below = relative[len(prefix) :] if prefix else relative
            if not include_hidden and any(part.startswith(".") for part in below.split("/")):
                continue
            mtime = info.mtime_ns if info.mtime_ns is not None else None
            yield ListedFile(path=relative, size=int(info.size or 0), mtime_ns=mtime)

    def exists(self, relative: str) -> bool:
        """Whether a file exists at `relative`."""
        info = self.filesystem.get_file_info(self.path_of(relative))
        return bool(info.type == pafs.FileType.File)

    def read_bytes(self, relative: str) -> bytes:
        """Read a whole file.

        Raises:
            FileNotFoundError: When the file does not exist.
            StorageError: When it exists but cannot be read.

        """
        path = self.path_of(relative)
        try:
            with self.filesystem.open_input_stream(path) as stream:
                return bytes(stream.read())
        except FileNotFoundError:
            raise FileNotFoundError(f"{self._describe(relative)} does not exist") from None
        except OSError as error:
            if "not found" in str(error).lower() or "no such file" in str(error).lower():
                raise FileNotFoundError(f"{self._describe(relative)} does not exist") from None
            raise StorageError(f"cannot read {self._describe(relative)}: {error}") from None

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a whole file atomically: readers see the old file or the new one, never a part."""
        with self.open_atomic_output(relative) as stream:
            stream.write(data)

    def delete(self, relative: str) -> None:
        """Delete one file; a missing file is not an error."""
        self._check_writable(relative)
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_file(self.path_of(relative))

    @contextlib.contextmanager
    def open_atomic_output(self, relative: str) -> Iterator[IO[bytes]]:
        """Open a file for writing that appears under its name only if the block succeeds.

        Locally the data goes to a temporary name beside the target and is renamed at the end;
        on failure the temporary file is removed and the target is untouched.
        """
        self._check_writable(relative)
        target = self.path_of(relative)
        self.filesystem.create_dir(posixpath.dirname(target), recursive=True)
        temporary = posixpath.join(
            posixpath.dirname(target), f".{posixpath.basename(target)}.{uuid.uuid4().hex[:12]}.tmp"
        )
        try:
            with self.filesystem.open_output_stream(temporary) as stream:
                yield stream  # type: ignore[misc]
            self.filesystem.move(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                self.filesystem.delete_file(temporary)
            raise

    def _check_writable(self, relative: str) -> None:
        if not self.writable:
            raise ReadOnlyLocationError(
                f"refusing to write {self._describe(relative)}: the input location is read-only"
            )

    def _describe(self, relative: str) -> str:
        if not relative:
            return f"'{self.url}'"
        return f"'{relative}' in '{self.url}'"


def safe_relative_path(relative: str) -> str:
    """Normalise a relative path and refuse anything that could leave its root.

    Args:
        relative: A path with forward slashes, relative to a location's root.

    Returns:
        The path without `.` components or doubled slashes.

    Raises:
        UnsafePathError: For absolute paths, drive letters, `..` components or an empty path.

    """
    if relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise UnsafePathError(f"path '{relative}' is absolute; expected a path relative to the root")
    parts = [part for part in relative.replace("\\", "/").split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise UnsafePathError(f"path '{relative}' contains '..'; it could leave its location")
    if not parts:
        raise UnsafePathError(f"path '{relative}' is empty")
    return "/".join(parts)


def _reopen(url: str, writable: bool) -> Location:
    return Location(url, writable=writable)


def _resolve(url: str) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in REMOTE_SCHEMES:
        raise NotYetSupportedError(
            [f"location '{url}': object storage ({scheme}://) arrives with the storage issue"]
        )
    if scheme not in ("", "file") and len(scheme) > 1:
        raise StorageError(
            f"location '{url}': unknown URL scheme '{scheme}'; use a local path, s3://, gs:// or az://"
        )
    path = parsed.path if scheme == "file" else url
    root = Path(path).expanduser().resolve()
    return pafs.LocalFileSystem(), root.as_posix()
