"""Location URLs: which store, which bucket or container, which prefix.

Accepted forms:
- a local path (`/data/images`, `relative/folder`, `~/images`) or `file:///data/images`;
- `s3://bucket/prefix`;
- `gs://bucket/prefix` (also `gcs://`);
- `az://container/prefix` (the storage account comes from the environment: the connection
  string or AZURE_STORAGE_ACCOUNT_NAME), or `abfs[s]://container@account.dfs.core.windows.net/prefix`
  and `https://account.blob.core.windows.net/container/prefix`, which name the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from lightly_ray.errors import StorageError

SCHEME_ALIASES = {"s3": "s3", "gs": "gs", "gcs": "gs", "az": "az", "abfs": "az", "abfss": "az"}


@dataclass(frozen=True)
class StorageUrl:
    """A parsed location URL.

    Attributes:
        scheme: "local", "s3", "gs" or "az".
        bucket: Bucket (S3, GCS) or container (Azure); empty for local paths.
        prefix: Key prefix inside the bucket without leading or trailing slash; for local
            paths, the absolute folder path.
        account: Azure storage account when the URL names it, else empty.
    """

    scheme: str
    bucket: str
    prefix: str
    account: str = ""


def parse_location_url(url: str) -> StorageUrl:
    """Parse a location URL or local path.

    Raises:
        StorageError: For an unknown scheme or a URL without a bucket/container.
    """
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and url[1:3] in (":\\", ":/")):
        path = parsed.path if scheme == "file" else url
        return StorageUrl("local", "", Path(path).expanduser().resolve().as_posix())
    if scheme == "https" and parsed.netloc.endswith(".blob.core.windows.net"):
        container, _, prefix = parsed.path.lstrip("/").partition("/")
        return _checked(StorageUrl("az", container, prefix.strip("/"), parsed.netloc.split(".")[0]), url)
    if scheme not in SCHEME_ALIASES:
        raise StorageError(
            f"location '{display_url(url)}': unknown URL scheme '{scheme}'; use a local path, "
            "s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"
        )
    kind = SCHEME_ALIASES[scheme]
    bucket, account = parsed.netloc, ""
    if kind == "az" and "@" in bucket:
        bucket, _, host = bucket.partition("@")
        account = host.split(".")[0]
    return _checked(StorageUrl(kind, bucket, parsed.path.strip("/"), account), url)


def display_url(url: str) -> str:
    """The URL without user info, query string or fragment (where SAS tokens and keys hide)."""
    parsed = urlparse(url)
    if not parsed.scheme or len(parsed.scheme) == 1:
        return url
    netloc = parsed.hostname or ""
    if parsed.port:
        netloc = f"{netloc}:{parsed.port}"
    if parsed.username and "@" in parsed.netloc and SCHEME_ALIASES.get(parsed.scheme.lower()) == "az":
        netloc = f"{parsed.username}@{netloc}"  # abfs://container@account...: no secret in it
    return urlunparse((parsed.scheme, netloc, parsed.path, "", "", ""))


def _checked(parsed: StorageUrl, url: str) -> StorageUrl:
    if not parsed.bucket:
        raise StorageError(f"location '{display_url(url)}' names no bucket or container")
    return parsed
