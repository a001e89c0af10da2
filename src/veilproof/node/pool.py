"""A bounded worker pool: proving is CPU-heavy, so work is queued with a hard limit.

Why bounded: a node that accepts every request queues forever and misses every deadline; better to
say 503 at once so the client picks another node.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger("veilproof.node")


class QueueFull(Exception):
    """The pool has ``workers + queue_limit`` jobs already."""


class Reservation:
    """A held slot of the pool: taken before the node commits to a job on chain (``start_job``), so a
    job the chain says is started always has a worker; released if the job is not started after all.

    Why: checking for room and taking the slot were two steps, and under a burst many requests passed
    the check together, were started on chain, then found the queue full and were answered 503 and
    forgotten (measured: 19 of 40 refused jobs of a 50-request burst had been started, each a slash at
    its deadline)."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._held = True

    def release(self) -> None:
        """Give the slot back (the job was not started); idempotent."""
        if self._held:
            self._held = False
            self._pool._free_slot()

    def run(self, fn: Callable[[], None]) -> Future[None]:
        """Queue ``fn`` on the held slot: cannot be refused (the slot is already counted)."""
        if not self._held:
            raise RuntimeError("reservation already used or released")
        self._held = False
        return self._pool._run_on_slot(fn)


class WorkerPool:
    def __init__(self, workers: int = 1, queue_limit: int = 8) -> None:
        self.workers = workers
        self.queue_limit = queue_limit
        self._exec = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vp-worker")
        self._inflight = 0
        self._lock = threading.Lock()

    @property
    def inflight(self) -> int:
        return self._inflight

    def has_room(self) -> bool:
        """Whether a :meth:`reserve` would succeed now (informational: only ``reserve`` is atomic)."""
        return self._inflight < self.workers + self.queue_limit

    def reserve(self, *, force: bool = False) -> Reservation:
        """Take a slot now, atomically; :class:`QueueFull` when there is none. ``force`` takes one
        beyond the limit: for jobs the node already owes on chain (recovered after a restart), which
        must run whatever the queue holds."""
        with self._lock:
            if not force and self._inflight >= self.workers + self.queue_limit:
                raise QueueFull(f"{self.workers} workers busy and {self.queue_limit} jobs queued")
            self._inflight += 1
        return Reservation(self)

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        return self.reserve().run(fn)

    def _free_slot(self) -> None:
        with self._lock:
            self._inflight -= 1

    def _run_on_slot(self, fn: Callable[[], None]) -> Future[None]:
        def run() -> None:
            try:
                fn()
            except Exception:  # a job's failure must never kill the worker thread
                log.exception("job crashed")
            finally:
                self._free_slot()

        return self._exec.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self._exec.shutdown(wait=wait, cancel_futures=not wait)
