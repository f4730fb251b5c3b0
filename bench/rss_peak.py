"""The process's peak resident memory while a block runs, sampled by a thread (for the benches)."""

from __future__ import annotations

import os
import threading
import time


class RssPeak:
    """Peak RSS (bytes) while entered, from /proc/self/statm every 2 ms; `base` is the RSS at entry."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.base = 0
        self.peak = 0
        self._stop = threading.Event()

    def rss(self) -> int:
        """The process's resident memory now, bytes."""
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.002)

    def __enter__(self) -> RssPeak:
        self.base = self.rss()
        self.peak = self.base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def growth_mb(self) -> float:
        """Peak minus the RSS at entry, MB (10^6 bytes)."""
        return (self.peak - self.base) / 1e6
