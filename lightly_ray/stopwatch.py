"""The seconds each stage of a run took (report.json's `stageTimings`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from lightly_ray.errors import raise_if_interrupted


class Stopwatch:
    """Measure one stage: `with watch("decode+embed"): ...` adds its seconds to `timings`."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the block; it starts, and ends without an error, only if no signal asked to stop."""
        raise_if_interrupted()
        start = time.perf_counter()
        try:
            yield
            raise_if_interrupted()
        finally:
            seconds = time.perf_counter() - start
            self.timings[stage] = round(self.timings.get(stage, 0.0) + seconds, 3)

    def split(self, stage: str, part: str, seconds: float) -> None:
        """Count `seconds` of `stage` as a stage of their own, `part` (training within embed)."""
        moved = min(seconds, self.timings.get(stage, 0.0))
        self.timings[stage] = round(self.timings.get(stage, 0.0) - moved, 3)
        self.timings[part] = round(self.timings.get(part, 0.0) + moved, 3)
