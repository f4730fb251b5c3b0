"""Google Cloud Storage, through google-cloud-storage.

Credentials come from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud
login, the metadata server, GKE workload identity). `STORAGE_EMULATOR_HOST` points the client
at an emulator (anonymous credentials). Transient errors are retried with exponential backoff
(the library's DEFAULT_RETRY, also for uploads, which are otherwise not retried).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import IO, Any

from lightly_ray.errors import StorageError
from lightly_ray.storage.backends import ObjectInfo, SpooledUpload
from lightly_ray.storage.optional import require

HTTP_POOL_SIZE = 64


class GcsBackend(SpooledUpload):
    """One GCS bucket."""

    def __init__(self, bucket: str) -> None:
        self.bucket_name = bucket

    @property
    def bucket(self) -> Any:
        """The bucket handle on the process-wide client."""
        return _client().bucket(self.bucket_name)

    def read_url(self, key: str, expires_s: int) -> str:
        """A V4 signed GET URL (at most 7 days).

        Signed with the service-account key that GOOGLE_APPLICATION_CREDENTIALS names, else
        with the client's credentials: a key signs locally; other identities (GKE workload
        identity, the metadata server) sign through the IAM signBlob API, which needs the
        role `roles/iam.serviceAccountTokenCreator` on their own service account.
        """
        import datetime as dt

        blob = _client().bucket(self.bucket_name).blob(key)
        options: dict[str, Any] = {
            "version": "v4",
            "method": "GET",
            "expiration": dt.timedelta(seconds=int(expires_s)),
        }
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            options["api_access_endpoint"] = emulator
        credentials = _signing_credentials()
        try:
            if hasattr(credentials, "sign_bytes"):
                url: str = blob.generate_signed_url(credentials=credentials, **options)
                return url
            import google.auth.transport.requests

            credentials.refresh(google.auth.transport.requests.Request())
            url = blob.generate_signed_url(
                service_account_email=credentials.service_account_email,
                access_token=credentials.token,
                **options,
            )
            return url
        except Exception as error:  # noqa: BLE001 - any SDK error becomes one message
            raise StorageError(
                f"cannot sign a read URL for gs://{self.bucket_name}/{key}: {error}. Signing needs a "
                "service-account key (GOOGLE_APPLICATION_CREDENTIALS) or an identity that may call "
                "IAM signBlob for its own service account"
            ) from None

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Stream the listing page by page."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        for blob in _client().list_blobs(self.bucket_name, prefix=prefix, retry=DEFAULT_RETRY):
            if not blob.name.endswith("/"):
                yield _object_of(blob)

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """Objects and prefixes one level below `prefix`."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        pages = _client().list_blobs(self.bucket_name, prefix=prefix, delimiter="/", retry=DEFAULT_RETRY)
        files = [_object_of(blob) for blob in pages if not blob.name.endswith("/")]
        return files, sorted(pages.prefixes)  # prefixes are collected while iterating

    def read(self, key: str) -> bytes:
        """Download the object."""
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        try:
            data: bytes = self.bucket.blob(key).download_as_bytes(retry=DEFAULT_RETRY)
        except NotFound:
            raise FileNotFoundError(key) from None
        return data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Download one byte range of the object (`end` is inclusive)."""
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        try:
            data: bytes = self.bucket.blob(key).download_as_bytes(
                start=start, end=start + length - 1, retry=DEFAULT_RETRY
            )
        except NotFound:
            raise FileNotFoundError(key) from None
        return data

    def size(self, key: str) -> int:
        """The object's size (one metadata request)."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.bucket.get_blob(key, retry=DEFAULT_RETRY)
        if blob is None:
            raise FileNotFoundError(key)
        return int(blob.size)

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        return bool(self.bucket.blob(key).exists())

    def delete(self, key: str) -> None:
        """Delete the object if it exists."""
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.bucket.blob(key).delete()

    def upload(self, key: str, stream: IO[bytes], size: int) -> None:
        """One upload (resumable above the library's threshold); the object appears when done."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.bucket.blob(key).upload_from_file(stream, size=size, rewind=False, retry=DEFAULT_RETRY)


def _object_of(blob: Any) -> ObjectInfo:
    updated = blob.updated
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size or 0),
        mtime_ns=int(updated.timestamp() * 1e9) if updated else None,
        etag=blob.etag,
    )


def _signing_credentials() -> Any:
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path:
        from google.oauth2 import service_account

        try:
            return service_account.Credentials.from_service_account_file(path)  # type: ignore[no-untyped-call]
        except ValueError:
            pass  # not a service-account key (e.g. an authorized-user file): the client's own
    return _client()._credentials


@functools.cache
def _client() -> Any:
    storage = require("google.cloud.storage", extra="gcs")
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        client = storage.Client(project=project or "lightly-ray-emulator")
    else:
        client = storage.Client(project=project)
    # Decode tasks read many objects at once: keep one pooled connection per concurrent read.
    import requests.adapters

    adapter = requests.adapters.HTTPAdapter(pool_connections=HTTP_POOL_SIZE, pool_maxsize=HTTP_POOL_SIZE)
    client._http.mount("https://", adapter)
    client._http.mount("http://", adapter)
    return client
