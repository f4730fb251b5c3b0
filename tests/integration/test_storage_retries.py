"""Transient errors (503, 429, dropped connections) are retried with backoff on every store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from lightly_ray.storage import Location, azure, gcs, s3
from tests.flaky_proxy import FlakyProxy


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """Clients are cached per process; start and end the test with new ones."""
    caches = (s3._client, gcs._client, azure._service)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


def _endpoint(scheme: str) -> tuple[str, str]:
    """The environment variable that points a client at its server, and the server's URL."""
    if scheme == "s3":
        return "AWS_ENDPOINT_URL", os.environ["AWS_ENDPOINT_URL"]
    if scheme == "gs":
        return "STORAGE_EMULATOR_HOST", os.environ["STORAGE_EMULATOR_HOST"]
    connection = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    endpoint = connection.split("BlobEndpoint=")[1].split(";")[0]
    return "AZURE_STORAGE_CONNECTION_STRING", endpoint.rsplit("/", 1)[0]


@pytest.mark.usefixtures("fresh_clients")
@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_transient_errors_are_retried(
    scheme: str, make_url: Callable[[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(scheme, "lr-lightly")
    variable, server = _endpoint(scheme)
    # Azure Storage throttles with 503 ServerBusy, never 429, and its SDK retries only the former.
    kinds = ("503", "reset") if scheme == "az" else ("503", "reset", "429")
    with FlakyProxy(server, every=3, kinds=kinds) as proxy:
        value = os.environ[variable].replace(server, proxy.url)
        monkeypatch.setenv(variable, value)
        location = Location(url, writable=True)
        for index in range(12):
            location.write_bytes(f"f/{index:02d}.bin", bytes([index]) * 100)
        assert sorted(item.path for item in location.list_files()) == [f"f/{i:02d}.bin" for i in range(12)]
        assert location.read_many([f"f/{i:02d}.bin" for i in range(12)]) == [
            bytes([i]) * 100 for i in range(12)
        ]
        assert location.exists("f/03.bin")
    assert all(proxy.failures[kind] >= 1 for kind in kinds), proxy.failures
