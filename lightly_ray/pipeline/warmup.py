"""Start what the pipeline needs while the driver lists the input.

A run's first embedded batch waits for three things besides the decoding itself: the model's
weights (built by a task on the driver's node), Ray Data's own helper actors (started by the first dataset a
driver executes) and the embedding actors. The first two do not depend on the listing, so they
start as soon as Ray is up, in background threads, and the listing (which on object storage
can take a while) runs meanwhile. An error building the weights surfaces when the pipeline
asks for them; one starting Ray Data would fail the pipeline itself a moment later, so it is
only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import ray.data

from lightly_ray.models.weights import ModelWeights

logger = logging.getLogger("lightly_ray")


def start_ray_data() -> None:
    """Execute a one-row dataset: Ray Data starts its helper actors and imports itself in a worker.

    Iterated rather than materialized: `materialize` warns that the dataset "will hang" whenever
    no CPU is free at that moment, as while the videos are being indexed; it only waits.
    """
    for _ in ray.data.range(1).iter_batches(batch_size=None):
        pass


def _nothing() -> None:
    return None


class Warmup:
    """Background work begun before the listing: Ray Data's start and the model's weights.

    Use as a context manager around the part of the run that needs them; leaving it waits for
    the threads (a few seconds at most), so none outlives the run, except when the run is
    interrupted (Ctrl-C, SIGTERM): then it leaves at once.

    Args:
        build_weights: Builds the model's weights and returns their object reference
            (`models.weights`); None when the run embeds nothing.
        later: Other work for the same threads, e.g. importing what the report needs while the
            driver waits on the pipeline; a failure there is logged and otherwise ignored.
        ray_data: Start Ray Data ahead. A datapool rerun says no: it usually embeds a few new
            files in the driver (`in_driver.py`), and Ray Data's helper actors would be processes
            started for nothing; should it need the pipeline after all, Ray Data starts then.

    """

    def __init__(
        self,
        build_weights: Callable[[], ModelWeights] | None,
        later: Sequence[Callable[[], object]] = (),
        *,
        ray_data: bool = True,
    ) -> None:
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lightly-ray-warmup")
        self._ray_data = self._threads.submit(start_ray_data if ray_data else _nothing)
        self._weights = self._threads.submit(build_weights) if build_weights is not None else None
        self._later: list[Future[object]] = [self._threads.submit(work) for work in later]

    def __enter__(self) -> Warmup:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            # Ctrl-C or SIGTERM: stop at once (`ray job stop` kills the driver 3 s after its
            # SIGTERM, before the run could release its dataset lock); the threads end with Ray.
            self._threads.shutdown(wait=False, cancel_futures=True)
            return
        self._threads.shutdown(wait=True)
        futures: list[Future[Any]] = [self._ray_data, *self._later]
        for future in futures:
            failed = future.exception()
            if failed is not None:
                logger.debug("warm-up work failed (it runs again when needed): %s", failed)

    def model_weights(self) -> ModelWeights:
        """The model's weights in the object store (waits for them; raises what building them raised)."""
        if self._weights is None:
            raise RuntimeError("this run builds no model")
        return self._weights.result()
