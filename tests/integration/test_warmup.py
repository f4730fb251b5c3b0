"""Work started while the input is listed: its result, its errors, and no thread left behind."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import ray

from lightly_ray.errors import WeightsNotAvailableError
from lightly_ray.pipeline.warmup import Warmup


def _warmup_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("lightly-ray-warmup")]


def test_weights_built_in_the_background_are_handed_over(ray_instance: None) -> None:
    calls: list[float] = []

    def build() -> ray.ObjectRef[dict[str, np.ndarray]]:
        calls.append(time.perf_counter())
        return ray.put({"weight": np.ones(3, dtype=np.float32)})

    before = time.perf_counter()
    with Warmup(build) as warmup:
        state = ray.get(warmup.model_weights())
    assert calls and calls[0] >= before and state["weight"].tolist() == [1.0, 1.0, 1.0]
    assert not _warmup_threads()


def test_a_failure_to_build_the_weights_reaches_the_run(ray_instance: None) -> None:
    def build() -> ray.ObjectRef[dict[str, np.ndarray]]:
        raise WeightsNotAvailableError("ImageNet weights for resnet-18 are not in the torch hub cache")

    with pytest.raises(WeightsNotAvailableError, match="not in the torch hub cache"), Warmup(build) as warmup:
        warmup.model_weights()
    assert not _warmup_threads()


def test_an_interrupted_run_does_not_wait_for_the_warmup(ray_instance: None) -> None:
    release = threading.Event()

    def build() -> ray.ObjectRef[dict[str, np.ndarray]]:
        release.wait(timeout=30)
        return ray.put({})

    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt), Warmup(build):
        raise KeyboardInterrupt
    assert time.perf_counter() - started < 2.0, "leaving waited for the weights"
    release.set()
    for thread in _warmup_threads():
        thread.join(timeout=30)
    assert not _warmup_threads()


def test_a_run_without_a_model_asks_for_no_weights(ray_instance: None) -> None:
    with Warmup(None) as warmup, pytest.raises(RuntimeError, match="builds no model"):
        warmup.model_weights()
