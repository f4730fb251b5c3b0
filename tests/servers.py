"""Real storage servers on 127.0.0.1 for the tests: moto (S3), gcp-storage-emulator (GCS), Azurite.

Each is started by the test session and stopped by it (threads or processes we started, by
PID). Credentials are test values; the S3 secret is a planted, recognisable string that a
test searches for in every output.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLANTED_SECRET = "planted-SECRET-do-not-leak-7f3a9c"
AZURITE_ACCOUNT = "devstoreaccount1"
# The public, well-known key of the Azure storage emulator (documented by Microsoft).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BUCKETS = ("lr-input", "lr-lightly")


@dataclass
class StorageServers:
    """The running servers and what was set up on them."""

    environment: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # not installed here: those tests skip
    failed: dict[str, str] = field(default_factory=dict)  # installed but did not start: those tests fail
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    moto: object | None = None

    def stop(self) -> None:
        """Stop every server this object started."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.moto is not None:
            self.moto.stop()  # type: ignore[attr-defined]


def start_storage_servers() -> StorageServers:
    """Start all three servers, create the test buckets, and set the environment for clients."""
    servers = StorageServers()
    _start_moto(servers)
    _start_gcs(servers)
    _start_azurite(servers)
    os.environ.update(servers.environment)
    return servers


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> bool:
    """Wait until something listens on the port (False if the process died or time ran out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def _start_moto(servers: StorageServers) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    servers.moto = server
    servers.environment.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="lightly-ray-test-key-id",
        AWS_SECRET_ACCESS_KEY=PLANTED_SECRET,
        AWS_DEFAULT_REGION="us-east-1",
    )
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        aws_access_key_id="lightly-ray-test-key-id",
        aws_secret_access_key=PLANTED_SECRET,
        region_name="us-east-1",
    )
    for bucket in BUCKETS:
        client.create_bucket(Bucket=bucket)


def _start_gcs(servers: StorageServers) -> None:
    executable = Path(sys.executable).with_name("gcp-storage-emulator")
    if not executable.exists():
        servers.skipped["gs"] = "gcp-storage-emulator is not installed (pip install 'lightly-ray[dev]')"
        return
    port = free_port()
    process = subprocess.Popen(
        [str(executable), "start", "-H", "127.0.0.1", "--port", str(port), "--in-memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers.processes.append(process)
    if not wait_for_port(port, process):
        servers.failed["gs"] = f"gcp-storage-emulator is installed but did not start on port {port}"
        return
    servers.environment.update(
        STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{port}", GOOGLE_CLOUD_PROJECT="lightly-ray-test"
    )
    os.environ.update(servers.environment)
    from google.cloud import storage

    client = storage.Client(project="lightly-ray-test")
    for bucket in BUCKETS:
        client.create_bucket(bucket)


def _start_azurite(servers: StorageServers) -> None:
    local = REPO / "node_modules" / ".bin" / "azurite-blob"
    executable = str(local) if local.exists() else shutil.which("azurite-blob")
    if executable is None:
        servers.skipped["az"] = "Azurite is not installed (run `npm install` in the repository)"
        return
    port = free_port()
    process = subprocess.Popen(
        [
            executable,
            "--blobHost", "127.0.0.1",
            "--blobPort", str(port),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--extentMemoryLimit", "256",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    servers.processes.append(process)
    if not wait_for_port(port, process):
        servers.failed["az"] = f"Azurite is installed but did not start on port {port}"
        return
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    servers.environment["AZURE_STORAGE_CONNECTION_STRING"] = connection_string
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection_string)
    for bucket in BUCKETS:
        service.create_container(bucket)
