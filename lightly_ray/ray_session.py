"""Connect to Ray for a run: join a cluster when one is named, else start a local instance."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray
import ray.data

from lightly_ray.progress import logger


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Use the Ray instance the caller already started, join `address`, or start a local one.

    Args:
        address: A Ray cluster address (`ray://...`, `HOST:PORT` or `auto`). None uses the
            RAY_ADDRESS environment variable when set, else starts a local instance that is shut
            down again at the end.

    """
    started_here = False
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        target = address or os.environ.get("RAY_ADDRESS") or None
        if target:
            logger.info("joining Ray cluster at %s", target)
            ray.init(address=target, logging_level=logging.WARNING, log_to_driver=True)
        else:
            logger.info("starting a local Ray instance")
            ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
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
