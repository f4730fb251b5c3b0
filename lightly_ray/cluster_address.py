"""The Ray cluster a run joins: the accepted address forms, checked before Ray is imported.

Accepted forms (the ones a Ray driver uses):
- `auto`: the cluster running on this machine (started with `ray start --head` here);
- `HOST:PORT`: the GCS address of a cluster's head node (port 6379 by default).

`ray://HOST:PORT` (Ray Client) is recognised and refused with what to do instead: Ray Data,
which runs the pipeline, does not work through Ray Client (its maintainers' answer in
ray-project/ray#42739 and #48682; measured here with Ray 2.60: the first pipeline step fails with
`'Worker' object has no attribute 'core_worker'`). Anything else is refused at once. For
HOST:PORT, a TCP connection is tried first with a short timeout: nothing listening there is
reported in a second, instead of Ray's own retries (which wait minutes).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Literal

from lightly_ray.errors import ClusterError, UsageError

ACCEPTED_FORMS = "'auto' or 'HOST:PORT' (the head node's GCS port, e.g. 10.0.0.5:6379)"
RAY_CLIENT_INSTEAD = (
    "Ray Client (ray://) cannot run lightly_ray's Ray Data pipeline: Ray Data does not support Ray "
    "Client. Submit the run as a Ray job instead (`ray job submit --address http://HEAD:8265 -- "
    "lightly-ray run ...`, where the job finds its cluster by itself), or run lightly-ray on a node "
    "of the cluster with --address HEAD:6379 (or auto)"
)
DEFAULT_CONNECT_TIMEOUT_S = 30.0
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")


@dataclass(frozen=True)
class ClusterAddress:
    """A parsed cluster address.

    Attributes:
        text: The address as given (what `ray.init` receives).
        kind: "auto" or "gcs" (HOST:PORT).
        host: The host, for "gcs".
        port: The port, for "gcs".
        source: Where it came from ("--address", "RAY_ADDRESS"), for messages.

    """

    text: str
    kind: Literal["auto", "gcs"]
    host: str = ""
    port: int = 0
    source: str = "--address"


def parse_cluster_address(text: str, source: str = "--address") -> ClusterAddress:
    """Parse a cluster address, or refuse it with the accepted forms.

    Args:
        text: The address.
        source: Where it came from, for the message ("--address", "RAY_ADDRESS").

    Returns:
        The parsed address.

    Raises:
        UsageError: When the address has none of the accepted forms, or is a Ray Client address.

    """
    value = text.strip()
    if value == "auto":
        return ClusterAddress(text=value, kind="auto", source=source)
    if value.startswith("ray://"):
        raise UsageError(f"{source} '{text}': {RAY_CLIENT_INSTEAD}")
    match = _HOST_PORT.match(value)
    if match is None or not 0 < int(match["port"]) < 65536:
        hint = ""
        if value.startswith(("http://", "https://")):
            hint = (
                " (an http:// address is the dashboard's, which `ray job submit` uses; a driver joins "
                "the cluster at its GCS port)"
            )
        raise UsageError(f"{source} '{text}' is not a Ray cluster address{hint}; use {ACCEPTED_FORMS}")
    host = match["host"].strip("[]")
    return ClusterAddress(text=value, kind="gcs", host=host, port=int(match["port"]), source=source)


def check_reachable(address: ClusterAddress, timeout_s: float) -> None:
    """Fail fast when nothing listens at the address (a TCP connection attempt, no Ray involved).

    Args:
        address: A parsed address; "auto" is not checked here (Ray finds the local cluster).
        timeout_s: Seconds to wait for the connection (at most 5).

    Raises:
        ClusterError: When the host does not resolve or refuses or ignores the connection.

    """
    if address.kind == "auto":
        return
    try:
        with socket.create_connection((address.host, address.port), timeout=min(timeout_s, 5.0)):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        leave = "unset RAY_ADDRESS" if address.source == "RAY_ADDRESS" else f"leave {address.source} out"
        raise ClusterError(
            f"no Ray cluster (GCS) answers at {address.text} ({address.source}): {reason}. Check the "
            "address and that the cluster is running (`ray status` on its head node), or "
            f"{leave} to start a local Ray instance"
        ) from None
