"""A storage location: a root URL with list, read, atomic write and existence checks.

Every read and write of a run goes through a `Location`, whatever the URL scheme, so that the
pipeline never opens paths itself and never assumes the driver and the workers share a disk:
a `Location` pickles as its URL and re-opens itself inside a Ray worker, with that worker's
own credential chain (no secret travels in a pickle).
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from lightly_ray.errors import ReadOnlyLocationError, StorageError, UnsafePathError
from lightly_ray.storage.backends import LocalBackend, StorageBackend
from lightly_ray.storage.ranged import RangedFile
from lightly_ray.storage.secrets import redact
from lightly_ray.storage.urls import StorageUrl, display_url, parse_location_url

READ_CONCURRENCY = 16


@dataclass(frozen=True)
class ListedFile:
    """One file found by listing a location.

    Attributes:
        path: Path relative to the location's root, with forward slashes.
        size: Size in bytes.
        mtime_ns: Modification time in nanoseconds since the epoch, when the store reports one.
        etag: The store's entity tag (object stores), when it reports one.
    """

    path: str
    size: int
    mtime_ns: int | None
    etag: str | None = None


class Location:
    """A root in local or object storage, opened read-only or read-write.

    Args:
        url: A local path, `file://`, `s3://bucket/prefix`, `gs://bucket/prefix` or
            `az://container/prefix` (see storage/urls.py).
        writable: False for the input location: every write raises ReadOnlyLocationError.
    """

    def __init__(self, url: str, *, writable: bool) -> None:
        self.url = display_url(str(url))
        self._raw_url = str(url)
        self.writable = writable
        self.parsed: StorageUrl = parse_location_url(self._raw_url)
        self.backend: StorageBackend = _backend_for(self.parsed)
        self.is_local = self.parsed.scheme == "local"
        self.root = self.parsed.prefix

    def __repr__(self) -> str:
        mode = "read-write" if self.writable else "read-only"
        return f"Location({self.url!r}, {mode})"

    def __reduce__(self) -> tuple[Any, ...]:
        # A local path travels absolute: a worker's working directory is not the driver's.
        return (_reopen, (self.root if self.is_local else self._raw_url, self.writable))

    def key_of(self, relative: str) -> str:
        """The backend key of a relative path, refusing any path that escapes the root.

        Raises:
            UnsafePathError: For absolute paths, `..` components or empty names.
        """
        safe = safe_relative_path(relative)
        return f"{self.root}/{safe}" if self.root else safe

    def list_files(self, prefix: str = "", *, include_hidden: bool = False) -> Iterator[ListedFile]:
        """Yield every file below `prefix`, recursively, as the store pages them (a stream).

        Args:
            prefix: A folder relative to the root; empty for the whole location.
            include_hidden: Also yield hidden files: those with a path component (below
                `prefix`) starting with a dot, such as `.lightly/`.
        """
        base = self.key_of(prefix) + "/" if prefix else (f"{self.root}/" if self.root else "")
        strip = len(self.root) + 1 if self.root else 0
        try:
            for info in self.backend.list_objects(base):
                relative = info.key[strip:]
                below = relative[len(prefix) :] if prefix else relative
                if not include_hidden and (below.startswith(".") or "/." in below):
                    continue
                yield ListedFile(path=relative, size=info.size, mtime_ns=info.mtime_ns, etag=info.etag)
        except StorageError:
            raise
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            raise StorageError(f"cannot list {self._describe(prefix)}: {reason}") from None
        except Exception as error:  # noqa: BLE001 - any SDK error becomes a redacted StorageError
            raise StorageError(f"cannot list {self._describe(prefix)}: {_safe_message(error)}") from None

    def list_level(self, prefix: str = "") -> tuple[list[ListedFile], list[str]]:
        """One level below `prefix` (not recursive): its files, and its sub-folders.

        Returns:
            (files, folders), relative to the root; folders end in '/'. Hidden entries are
            included: the caller decides.
        """
        base = self.key_of(prefix) + "/" if prefix else (f"{self.root}/" if self.root else "")
        strip = len(self.root) + 1 if self.root else 0
        try:
            infos, folders = self.backend.list_level(base)
        except Exception as error:  # noqa: BLE001 - any SDK error becomes a redacted StorageError
            raise StorageError(f"cannot list {self._describe(prefix)}: {_safe_message(error)}") from None
        files = [ListedFile(info.key[strip:], info.size, info.mtime_ns, info.etag) for info in infos]
        return files, [folder[strip:] for folder in folders]

    def list_folders(self, prefix: str = "") -> list[str]:
        """Immediate sub-folders below `prefix`, relative to the root, each ending in '/'."""
        return self.list_level(prefix)[1]

    def exists(self, relative: str) -> bool:
        """Whether a file exists at `relative`."""
        try:
            return self.backend.exists(self.key_of(relative))
        except Exception as error:
            if isinstance(error, UnsafePathError):
                raise
            raise StorageError(f"cannot check {self._describe(relative)}: {_safe_message(error)}") from None

    def read_url(self, relative: str, expires_s: int) -> str:
        """A URL that reads one file without other credentials, valid for `expires_s`.

        Presigned on S3, signed on GCS, a read-only SAS on Azure; a local file's absolute path.

        Raises:
            StorageError: When the credentials cannot sign.
        """
        key = self.key_of(relative)
        try:
            return self.backend.read_url(key, expires_s)
        except StorageError:
            raise
        except Exception as error:  # noqa: BLE001 - any SDK error becomes a redacted StorageError
            raise StorageError(
                f"cannot sign a read URL for {self._describe(relative)}: {_safe_message(error)}"
            ) from None

    def read_bytes(self, relative: str) -> bytes:
        """Read a whole file.

        Raises:
            FileNotFoundError: When the file does not exist.
            StorageError: When it exists but cannot be read (after the store's retries).
        """
        key = self.key_of(relative)
        try:
            return self.backend.read(key)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self._describe(relative)} does not exist") from None
        except Exception as error:  # noqa: BLE001 - any SDK error becomes a redacted StorageError
            raise StorageError(f"cannot read {self._describe(relative)}: {_safe_message(error)}") from None

    def open_read(self, relative: str, size: int | None = None) -> IO[bytes]:
        """Open a file for seekable reading without reading it whole.

        Locally this is the file itself; on object stores a `RangedFile` that fetches the
        byte ranges that are read (a video decoder reads an index and the part it decodes).

        Args:
            relative: The file.
            size: Its size when known (from the listing); else one request asks for it.

        Raises:
            FileNotFoundError: When the file does not exist.
            StorageError: When its size cannot be read.
        """
        key = self.key_of(relative)
        description = self._describe(relative)
        if self.is_local:
            try:
                return open(key, "rb")
            except FileNotFoundError:
                raise FileNotFoundError(f"{description} does not exist") from None
        if size is None:
            try:
                size = self.backend.size(key)
            except FileNotFoundError:
                raise FileNotFoundError(f"{description} does not exist") from None
            except Exception as error:  # noqa: BLE001 - any SDK error becomes a redacted StorageError
                raise StorageError(f"cannot read {description}: {_safe_message(error)}") from None

        def fetch(start: int, length: int) -> bytes:
            try:
                return self.backend.read_range(key, start, length)
            except Exception as error:  # noqa: BLE001 - any SDK error becomes a redacted StorageError
                raise StorageError(f"cannot read {description}: {_safe_message(error)}") from None

        return io.BufferedReader(RangedFile(fetch, size, name=relative), buffer_size=64 * 1024)

    def read_many(
        self, relatives: Sequence[str], *, concurrency: int = READ_CONCURRENCY
    ) -> list[bytes | Exception]:
        """Read several files concurrently (the way decode tasks read their batch).

        Returns:
            Per path, its bytes, or the exception (FileNotFoundError, StorageError) that reading
            it raised; one bad file does not stop the others.
        """

        def read_one(relative: str) -> bytes | Exception:
            try:
                return self.read_bytes(relative)
            except (OSError, StorageError) as error:
                return error

        if self.is_local or len(relatives) <= 1 or concurrency <= 1:
            return [read_one(relative) for relative in relatives]
        return list(_read_pool(concurrency).map(read_one, relatives))

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a whole file atomically: readers see the old file or the new one, never a part."""
        with self.open_atomic_output(relative) as stream:
            stream.write(data)

    @contextlib.contextmanager
    def open_atomic_output(self, relative: str) -> Iterator[IO[bytes]]:
        """Open a file for writing that appears under its name only if the block succeeds.

        Locally the data goes to a temporary name beside the target and is renamed at the end;
        on object stores it is uploaded in one request (or one multipart upload) at the end.
        """
        self._check_writable(relative)
        key = self.key_of(relative)
        try:
            with self.backend.open_atomic_output(key) as stream:
                yield stream
        except StorageError:
            raise
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            raise StorageError(f"cannot write {self._describe(relative)}: {reason}") from None
        except Exception as error:
            if type(error).__module__.split(".")[0] in ("botocore", "boto3", "google", "azure"):
                message = _safe_message(error)
                raise StorageError(f"cannot write {self._describe(relative)}: {message}") from None
            raise

    def delete(self, relative: str) -> None:
        """Delete one file; a missing file is not an error."""
        self._check_writable(relative)
        self.backend.delete(self.key_of(relative))

    def _check_writable(self, relative: str) -> None:
        if not self.writable:
            raise ReadOnlyLocationError(
                f"refusing to write {self._describe(relative)}: the input location is read-only"
            )

    def _describe(self, relative: str) -> str:
        if not relative:
            return f"'{self.url}'"
        return f"'{relative}' in '{self.url}'"


def relative_inside(path: str, location: Location, key: str) -> str:
    """A path relative to the location, from a relative path or a path/URL that points inside it.

    Raises:
        StorageError: When the path lies outside the location.
    """
    for prefix in (location.url.rstrip("/") + "/", location.root.rstrip("/") + "/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    if "://" in path or path.startswith("/"):
        raise StorageError(
            f"{key} '{path}' is not inside the lightly location '{location.url}'; give a path relative to it"
        )
    return path


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


@functools.cache
def _read_pool(concurrency: int) -> ThreadPoolExecutor:
    # One pool per process and concurrency, reused by every batch: starting 16 threads per
    # 64-object batch cost ~10 ms (bench/listing.py profile), ~2% of reading from S3.
    return ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lightly-ray-read")


def _safe_message(error: BaseException) -> str:
    hint = _CREDENTIAL_HINTS.get(type(error).__name__)
    return redact(f"{type(error).__name__}: {error}" + (f" ({hint})" if hint else ""))


# What to set when a provider's standard chain found no credentials (docs/storage.md).
_CREDENTIAL_HINTS = {
    "NoCredentialsError": "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
    "AWS_PROFILE, or run where an instance, container or EKS role is given",
    "DefaultCredentialsError": "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service "
    "account key file, run `gcloud auth application-default login`, or use GKE workload identity",
    "CredentialUnavailableError": "no Azure credentials: set AZURE_STORAGE_CONNECTION_STRING, "
    "AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or use a managed or workload identity",
}


def _reopen(url: str, writable: bool) -> Location:
    return Location(url, writable=writable)


def _backend_for(parsed: StorageUrl) -> StorageBackend:
    if parsed.scheme == "local":
        return LocalBackend()
    if parsed.scheme == "s3":
        from lightly_ray.storage.s3 import S3Backend

        return S3Backend(parsed.bucket)
    if parsed.scheme == "gs":
        from lightly_ray.storage.gcs import GcsBackend

        return GcsBackend(parsed.bucket)
    from lightly_ray.storage.azure import AzureBackend

    return AzureBackend(parsed.bucket, parsed.account)
