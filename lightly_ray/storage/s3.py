"""Amazon S3 and S3-compatible stores, through boto3.

boto3 brings the standard AWS credential chain (environment, profiles, SSO, instance and
container roles, web identity for EKS) and honours `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3`
for S3-compatible servers (MinIO, test servers). Transient errors (5xx, throttling, connection
resets) are retried by botocore's "standard" retry mode with exponential backoff and jitter.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import IO, Any

from lightly_ray.storage.backends import ObjectInfo, SpooledUpload
from lightly_ray.storage.optional import require

MAX_ATTEMPTS = 8
MAX_POOL_CONNECTIONS = 64


class S3Backend(SpooledUpload):
    """One S3 bucket."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @property
    def client(self) -> Any:
        """The process-wide boto3 client (thread-safe, created on first use)."""
        return _client()

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Stream ListObjectsV2 pages (1,000 keys each)."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from _objects_of(page)

    def list_level(self, prefix: str) -> tuple[list[ObjectInfo], list[str]]:
        """Objects and common prefixes one level below `prefix`."""
        paginator = self.client.get_paginator("list_objects_v2")
        files: list[ObjectInfo] = []
        folders: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            files += _objects_of(page)
            folders += [entry["Prefix"] for entry in page.get("CommonPrefixes", ())]
        return files, folders

    def read_url(self, key: str, expires_s: int) -> str:
        """A presigned GET URL (SigV4, computed locally from the credentials; at most 7 days)."""
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=int(expires_s)
        )
        return url

    def read(self, key: str) -> bytes:
        """GET the object (one request, no HEAD before it)."""
        client = self.client
        try:
            response = client.get_object(Bucket=self.bucket, Key=key)
        except client.exceptions.NoSuchKey:
            raise FileNotFoundError(key) from None
        data: bytes = response["Body"].read()
        return data

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """GET one byte range of the object."""
        client = self.client
        try:
            response = client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except client.exceptions.NoSuchKey:
            raise FileNotFoundError(key) from None
        data: bytes = response["Body"].read()
        return data

    def size(self, key: str) -> int:
        """HEAD the object for its size."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(key) from None
            raise
        return int(response["ContentLength"])

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        """DELETE the object (S3 answers success for a missing key)."""
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def upload(self, key: str, stream: IO[bytes], size: int) -> None:
        """A single PUT below 8 MiB, a multipart upload (completed or aborted as a whole) above."""
        self.client.upload_fileobj(stream, self.bucket, key)


def _objects_of(page: dict[str, Any]) -> list[ObjectInfo]:
    return [
        ObjectInfo(
            key=item["Key"],
            size=int(item["Size"]),
            mtime_ns=int(item["LastModified"].timestamp() * 1e9),
            etag=str(item.get("ETag", "")).strip('"') or None,
        )
        for item in page.get("Contents", ())
        if not item["Key"].endswith("/")  # "folder" marker objects
    ]


@functools.cache
def _client() -> Any:
    boto3 = require("boto3", extra="s3")
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=MAX_POOL_CONNECTIONS,
        signature_version="s3v4",  # presigned URLs too (botocore presigns with SigV2 otherwise)
    )
    return boto3.session.Session().client("s3", config=config)
