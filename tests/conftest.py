from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import StorageServers, start_storage_servers

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(autouse=True, scope="session")
def spill_every_column() -> Iterator[None]:
    """Runs in this process write every numeric per-sample column to the driver's scratch files.

    A real run does so only from 1 MiB a column (131,072 samples); the tests' runs are small,
    and should take the path large runs take. Runs in subprocesses (the CLI) keep the default.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("lightly_ray.pipeline.spilled_columns.SPILL_MIN_BYTES", 1)
        yield


@pytest.fixture(scope="session")
def storage_servers() -> Iterator[StorageServers]:
    """S3 (moto), GCS (emulator) and Azure (Azurite) servers on 127.0.0.1 for the session."""
    servers = start_storage_servers()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def make_url(storage_servers: StorageServers, tmp_path: Path) -> Callable[[str, str], str]:
    """Return a fresh, empty location URL: make_url("s3", "lr-input") -> s3://lr-input/<id>."""

    def make(scheme: str, bucket: str = "lr-input") -> str:
        if scheme == "local":
            folder = tmp_path / f"{bucket}-{uuid.uuid4().hex[:8]}"
            folder.mkdir()
            return str(folder)
        if scheme in storage_servers.failed:
            pytest.fail(storage_servers.failed[scheme])
        if scheme in storage_servers.skipped:
            pytest.skip(storage_servers.skipped[scheme])
        return f"{scheme}://{bucket}/{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture(scope="session")
def ray_instance(storage_servers: StorageServers) -> Iterator[None]:
    """One local Ray instance for the whole test session (2 CPUs, no dashboard).

    It starts after the storage servers, so that its workers see their endpoints and test
    credentials in the environment, as workers of a real cluster see their own.
    """
    import ray

    temp_dir = tempfile.mkdtemp(prefix="lrt-", dir="/tmp")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=512 * 1024 * 1024,
        _temp_dir=temp_dir,
        logging_level="WARNING",
    )
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests on machines without CUDA (CI has none)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
