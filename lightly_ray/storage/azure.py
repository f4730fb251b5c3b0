"""Azure Blob Storage, through azure-storage-blob.

Credentials, in order: `AZURE_STORAGE_CONNECTION_STRING` (also how Azurite is reached); else
the account (from the URL or `AZURE_STORAGE_ACCOUNT_NAME`) with `AZURE_STORAGE_SAS_TOKEN`,
`AZURE_STORAGE_KEY`, or azure-identity's DefaultAzureCredential (environment, workload
identity on AKS, managed identity, Azure CLI login). Transient errors are retried by the SDK's
exponential retry policy, configured like the other stores: 8 retries, backoff 1 s + 2^n s
with 1 s jitter (the SDK's default is 3 retries from 15 s).
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

RETRY_TOTAL = 8


class AzureBackend(SpooledUpload):
    """One Azure Blob container."""

    def __init__(self, container: str, account: str) -> None:
        self.container_name = container
        self.account = account

    @property
    def container(self) -> Any:
        """The container client on the process-wide service client."""
        return _service(self.account).get_container_client(self.container_name)

    def read_url(self, key: str, expires_s: int) -> str:
        """The blob's URL with a read-only SAS valid for `expires_s`.

        Signed with the account key when the credentials hold one (connection string,
        AZURE_STORAGE_KEY), else with a user delegation key that an Entra ID identity
        obtains (it needs a role with `generateUserDelegationKey`, e.g. Storage Blob Delegator).
        A SAS token from the environment is not passed on: it may allow more than reading.
        """
        import datetime as dt

        blob = require("azure.storage.blob", extra="azure")
        service = _service(self.account)
        now = dt.datetime.now(dt.UTC)
        expiry = now + dt.timedelta(seconds=int(expires_s))
        options: dict[str, Any] = {
            "account_name": service.account_name,
            "container_name": self.container_name,
            "blob_name": key,
            "permission": blob.BlobSasPermissions(read=True),
            "expiry": expiry,
            "start": now - dt.timedelta(minutes=5),  # clock skew between here and the store
        }
        account_key = getattr(service.credential, "account_key", None)
        try:
            if account_key:
                token = blob.generate_blob_sas(account_key=account_key, **options)
            elif hasattr(service.credential, "get_token"):
                delegation = service.get_user_delegation_key(now - dt.timedelta(minutes=5), expiry)
                token = blob.generate_blob_sas(user_delegation_key=delegation, **options)
            else:
                raise StorageError(
                    "a SAS token from the environment cannot sign read URLs: give AZURE_STORAGE_KEY, a "
                    "connection string with the account key, or an Entra ID identity"
                )
        except StorageError:
            raise
        except Exception as error:  # noqa: BLE001 - any SDK error becomes one message
            raise StorageError(
                f"cannot sign a read URL for az://{self.container_name}/{key}: {error}"
            ) from None
        url: str = service.get_blob_client(self.container_name, key).url
        return f"{url}?{token}"

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Stream the listing page by page."""
        for blob in self.container.list_blobs(name_starts_with=prefix or None):
            if not blob.name.endswith("/"):
                yield _object_of(blob)

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """Blobs and prefixes one level below `prefix`."""
        from azure.storage.blob import BlobPrefix

        files: list[ObjectInfo] = []
        folders: list[str] = []
        for entry in self.container.walk_blobs(name_starts_with=prefix or None, delimiter="/"):
            if isinstance(entry, BlobPrefix):
                folders.append(entry.name)
            elif not entry.name.endswith("/"):
                files.append(_object_of(entry))
        return files, sorted(folders)

    def read(self, key: str) -> bytes:
        """Download the blob."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            data: bytes = self.container.download_blob(key, max_concurrency=1).readall()
        except ResourceNotFoundError:
            raise FileNotFoundError(key) from None
        return data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Download one byte range of the blob."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container.download_blob(key, offset=start, length=length, max_concurrency=1)
            data: bytes = downloader.readall()
        except ResourceNotFoundError:
            raise FileNotFoundError(key) from None
        return data

    def size(self, key: str) -> int:
        """The blob's size (one properties request)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return int(self.container.get_blob_client(key).get_blob_properties().size)
        except ResourceNotFoundError:
            raise FileNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        """Whether the blob exists."""
        return bool(self.container.get_blob_client(key).exists())

    def delete(self, key: str) -> None:
        """Delete the blob if it exists."""
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self.container.delete_blob(key)

    def upload(self, key: str, stream: IO[bytes], size: int) -> None:
        """One block-blob upload; the blob is committed (visible) only at the end."""
        self.container.upload_blob(key, stream, length=size, overwrite=True)


def _object_of(blob: Any) -> ObjectInfo:
    modified = blob.last_modified
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size or 0),
        mtime_ns=int(modified.timestamp() * 1e9) if modified else None,
        etag=str(blob.etag).strip('"') if blob.etag else None,
    )


@functools.cache
def _service(account: str) -> Any:
    blob = require("azure.storage.blob", extra="azure")
    retry = blob.ExponentialRetry(
        initial_backoff=1, increment_base=2, retry_total=RETRY_TOTAL, random_jitter_range=1
    )
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection_string:
        return blob.BlobServiceClient.from_connection_string(connection_string, retry_policy=retry)
    account = account or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME", "")
    if not account:
        raise StorageError(
            "Azure location: no storage account. Set AZURE_STORAGE_CONNECTION_STRING or "
            "AZURE_STORAGE_ACCOUNT_NAME, or name the account in the URL "
            "(abfs://container@ACCOUNT.dfs.core.windows.net/prefix)"
        )
    url = os.environ.get("AZURE_STORAGE_BLOB_ENDPOINT") or f"https://{account}.blob.core.windows.net"
    credential: Any = os.environ.get("AZURE_STORAGE_SAS_TOKEN") or os.environ.get("AZURE_STORAGE_KEY")
    if credential is None:
        identity = require("azure.identity", extra="azure")
        credential = identity.DefaultAzureCredential()
    elif credential == os.environ.get("AZURE_STORAGE_KEY"):
        credential = {"account_name": account, "account_key": credential}
    return blob.BlobServiceClient(account_url=url, credential=credential, retry_policy=retry)
