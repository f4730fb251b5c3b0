"""The Ray cluster a run joins: the accepted address forms, checked before Ray is imported.

Accepted forms (the ones `ray.init` and `ray job submit` use):
- `auto`: the cluster running on this machine (started with `ray start --head` here);
- `HOST:PORT`: the GCS address of a cluster's head node (port 6379 by default);
- `ray://HOST:PORT`: a Ray Client server (port 10001 by default).

Anything else is refused at once. For the two forms with a host, a TCP connection is tried
first with a short timeout: nothing listening there is reported in a second, instead of Ray's
own retries (which wait minutes).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Literal

from lightly_ray.errors import ClusterError, UsageError

ACCEPTED_FORMS = "'auto', 'HOST:PORT' (the head node's GCS, e.g. 10.0.0.5:6379) or 'ray://HOST:PORT'"
DEFAULT_CONNECT_TIMEOUT_S = 30.0
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")


@dataclass(frozen=True)
class ClusterAddress:
    """A parsed cluster address.

    Attributes:
        text: The address as given (what `ray.init` receives).
        kind: "auto", "gcs" (HOST:PORT) or "client" (ray://HOST:PORT).
        host: The host, for "gcs" and "client".
        port: The port, for "gcs" and "client".

    """

    text: str
    kind: Literal["auto", "gcs", "client"]
    host: str = ""
    port: int = 0


def parse_cluster_address(text: str, source: str = "--address") -> ClusterAddress:
    """Parse a cluster address, or refuse it with the accepted forms.

    Args:
        text: The address.
        source: Where it came from, for the message ("--address", "RAY_ADDRESS").

    Returns:
        The parsed address.

    Raises:
        UsageError: When the address has none of the accepted forms.

    """
    value = text.strip()
    if value == "auto":
        return ClusterAddress(text=value, kind="auto")
    kind: Literal["gcs", "client"] = "gcs"
    rest = value
    if value.startswith("ray://"):
        kind, rest = "client", value[len("ray://") :].rstrip("/")
    match = _HOST_PORT.match(rest)
    if match is None or not 0 < int(match["port"]) < 65536:
        hint = ""
        if value.startswith(("http://", "https://")):
            hint = (
                " (an http:// address is the dashboard's, which `ray job submit` uses; a driver joins "
                "the cluster at the GCS port or through ray://)"
            )
        raise UsageError(f"{source} '{text}' is not a Ray cluster address{hint}; use {ACCEPTED_FORMS}")
    return ClusterAddress(text=value, kind=kind, host=match["host"].strip("[]"), port=int(match["port"]))


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
        what = "Ray Client server" if address.kind == "client" else "Ray cluster (GCS)"
        raise ClusterError(
            f"no {what} answers at {address.text}: {reason}. Check the address and that the cluster "
            "is running (`ray status` on its head node), or leave --address out to start a local "
            "Ray instance"
        ) from None
