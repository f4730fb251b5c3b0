"""One run at a time per dataset: a lock in the lightly location that a dead run cannot keep.

Object stores differ in their conditional writes (and their emulators in which they honour),
so the lock is built from what every store has, plain writes and a consistent listing:

- A run writes a claim, `locks/<run id>.json` (who, where, since when), and a heartbeat,
  `locks/<run id>.alive`, which it rewrites every `heartbeat_s` seconds while it runs.
- The holder is the live claim written first: the store's own modification time, then the
  run id, orders the claims. A claim whose heartbeat is older than `ttl_s` belongs to a run that
  died; it is ignored and deleted. So is, at once, a claim of a process on this host that no
  longer exists (a run killed here, rerun here).
- A run that is not the holder deletes its claim and stops. One that is waits `settle_s` (more
  than the stores' one-second time resolution; a run spends it starting Ray and listing its
  input) and looks again, so that of two runs that claimed within the same second exactly one
  goes on. On a store whose times have sub-second digits (local disks, GCS; S3 and Azure list
  whole seconds) the claims order themselves at that resolution, and the wait is
  `FINE_SETTLE_S`, long enough for a claim being written to appear.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from types import TracebackType

from lightly_ray.datasets.store import Dataset, DatasetConflictError

logger = logging.getLogger("lightly_ray")

TTL_S = 600.0
HEARTBEAT_S = 60.0
SETTLE_S = 1.5
FINE_SETTLE_S = 0.2


class DatasetLockedError(DatasetConflictError):
    """Another run is writing the dataset."""


class DatasetLock:
    """The lock of one dataset, for one run; use as a context manager.

    Args:
        dataset: The dataset.
        run_id: The run that takes it.
        ttl_s: How old a heartbeat may be before its run counts as dead.
        heartbeat_s: How often the holder renews its heartbeat.
        settle_s: How long to wait before confirming the lock (on stores with one-second times;
            `FINE_SETTLE_S` where a claim's time has sub-second digits, unless shorter).
    """

    def __init__(
        self,
        dataset: Dataset,
        run_id: str,
        *,
        ttl_s: float = TTL_S,
        heartbeat_s: float = HEARTBEAT_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.dataset = dataset
        self.run_id = run_id
        self.ttl_s, self.heartbeat_s, self.settle_s = ttl_s, heartbeat_s, settle_s
        self.folder = f"{dataset.folder}/locks"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._claimed = False
        self._claimed_at = 0.0
        self._own_mtime_ns = 0

    def __enter__(self) -> DatasetLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Claim the dataset and confirm it, or raise DatasetLockedError naming the holder."""
        self.claim()
        self.confirm()

    def claim(self) -> None:
        """Write this run's claim and check that no earlier live claim exists.

        `confirm` must follow (after any other work: the settle time runs from here), and
        `release` always.

        Raises:
            DatasetLockedError: When another run holds the dataset (this claim is withdrawn).
        """
        location = self.dataset.location
        claim = {
            "run_id": self.run_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        location.write_bytes(f"{self.folder}/{self.run_id}.json", json.dumps(claim).encode("utf-8"))
        self._claimed = True
        self._beat()
        self._claimed_at = time.monotonic()
        self._check()
        if self._own_mtime_ns % 1_000_000_000:  # the store keeps sub-second times
            self.settle_s = min(self.settle_s, FINE_SETTLE_S)

    def confirm(self) -> None:
        """Look again once `settle_s` has passed since the claim, then keep the claim alive.

        Raises:
            DatasetLockedError: When a run that claimed in the same second comes first.
        """
        time.sleep(max(0.0, self.settle_s - (time.monotonic() - self._claimed_at)))
        self._check()
        self._thread = threading.Thread(target=self._keep_alive, name="lightly-ray-lock", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and withdraw the claim, if there is one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._claimed:
            self._claimed = False
            self._remove(self.run_id)

    def _check(self) -> None:
        holder = self._holder()
        if holder != self.run_id:
            self._claimed = False
            self._remove(self.run_id)
            raise DatasetLockedError(self._describe(holder))

    def _holder(self) -> str | None:
        claims: dict[str, int] = {}
        beats: dict[str, int] = {}
        for listed in self.dataset.location.list_files(self.folder, include_hidden=True):
            name = listed.path.rsplit("/", 1)[-1]
            run, _, kind = name.rpartition(".")
            if kind == "json":
                claims[run] = listed.mtime_ns or 0
                if run == self.run_id:
                    self._own_mtime_ns = claims[run]
            elif kind == "alive":
                beats[run] = listed.mtime_ns or 0
        now = time.time_ns()
        live = {}
        for run, claimed in claims.items():
            if now - beats.get(run, claimed) > self.ttl_s * 1e9:
                logger.warning(
                    "dataset '%s': run %s stopped renewing its lock; it is dead", self.dataset.name, run
                )
                self._remove(run)
            elif run != self.run_id and self._died_here(run):
                logger.warning(
                    "dataset '%s': run %s died on this host; its lock is released", self.dataset.name, run
                )
                self._remove(run)
            else:
                live[run] = claimed
        return min(live, key=lambda run: (live[run], run)) if live else None

    def _died_here(self, run: str) -> bool:
        """Whether the claim is of a process on this host that no longer exists."""
        try:
            claim = json.loads(self.dataset.location.read_bytes(f"{self.folder}/{run}.json"))
            host, pid = claim["host"], int(claim["pid"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return False
        if host != socket.gethostname():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _describe(self, holder: str | None) -> str:
        name = self.dataset.name
        try:
            claim = json.loads(self.dataset.location.read_bytes(f"{self.folder}/{holder}.json"))
            who = f"run {holder} (host {claim['host']}, pid {claim['pid']}, since {claim['started']})"
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            who = f"run {holder}"
        return (
            f"dataset '{name}' is being written by {who}: wait for it to finish, or write to another "
            f"dataset (--dataset NAME). A run that died holds the lock for at most {self.ttl_s / 60:g} "
            f"minutes after its last heartbeat ({self.dataset.url}/locks/)"
        )

    def _beat(self) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds").encode("utf-8")
        self.dataset.location.write_bytes(f"{self.folder}/{self.run_id}.alive", stamp)

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self._beat()
            except Exception as error:  # noqa: BLE001 - retried at the next beat
                logger.warning("could not renew the lock of dataset '%s': %s", self.dataset.name, error)

    def _remove(self, run: str) -> None:
        for suffix in ("json", "alive"):
            try:
                self.dataset.location.delete(f"{self.folder}/{run}.{suffix}")
            except Exception as error:  # noqa: BLE001 - a claim left behind expires
                logger.debug("could not delete lock file of %s: %s", run, error)
