"""Connect to Ray for a run: join a cluster when one is named, else start a local instance.

Joining is bounded: a cluster that does not answer within the connect timeout is reported,
naming the address, instead of waiting on Ray's own retries (minutes).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray
import ray.data

from lightly_ray.cluster_address import ClusterAddress
from lightly_ray.errors import ClusterError
from lightly_ray.progress import logger


@contextmanager
def ray_session(address: ClusterAddress | None, connect_timeout_s: float) -> Iterator[None]:
    """Use the Ray instance the caller already started, join `address`, or start a local one.

    Args:
        address: The cluster to join (see `cluster_address`); None starts a local instance that
            is shut down again at the end.
        connect_timeout_s: How long joining a cluster may take.

    Raises:
        ClusterError: When the cluster cannot be joined within the timeout.

    """
    started_here = False
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
        if address is not None:
            logger.info("joining Ray cluster at %s", address.text)
            _join(address, connect_timeout_s, options)
        else:
            logger.info("starting a local Ray instance")
            try:
                ray.init(address="local", include_dashboard=False, **options)
            except BaseException:
                ray.shutdown()  # what it had started (Ctrl-C during the start): stop it too
                raise
        started_here = True
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.verbose_stats_logs = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        yield
    finally:
        if started_here:
            ray.shutdown()


def _join(address: ClusterAddress, timeout_s: float, options: dict[str, Any]) -> None:
    """`ray.init(address)` in a helper thread, given up after `timeout_s`."""
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            ray.init(address=address.text, **options)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            outcome.append(error)

    thread = threading.Thread(target=connect, name="lightly-ray-connect", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        raise ClusterError(
            f"the Ray cluster at {address.text} did not answer within {timeout_s:g} s (something listens "
            "there, but it does not complete Ray's handshake). Check that the address is the head "
            "node's GCS port (6379 by default), that this machine runs the cluster's Ray version, "
            "and any token authentication (RAY_AUTH_TOKEN); --connect-timeout sets the wait"
        )
    error = outcome[0]
    if error is None:
        return
    if isinstance(error, KeyboardInterrupt):
        raise error
    raise ClusterError(f"cannot join the Ray cluster at {address.text}: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
