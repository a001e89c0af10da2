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


class WorkerPool:
    def __init__(self, workers: int = 1, queue_limit: int = 8) -> None:
        self.workers = workers
        self.queue_limit = queue_limit
        self._exec = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vp-worker")
        self._slots = threading.BoundedSemaphore(workers + queue_limit)
        self._inflight = 0
        self._lock = threading.Lock()

    @property
    def inflight(self) -> int:
        return self._inflight

    def has_room(self) -> bool:
        """Best-effort check before committing to a job on chain (submit re-checks atomically)."""
        return self._inflight < self.workers + self.queue_limit

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        if not self._slots.acquire(blocking=False):
            raise QueueFull(f"{self.workers} workers busy and {self.queue_limit} jobs queued")
        with self._lock:
            self._inflight += 1

        def run() -> None:
            try:
                fn()
            except Exception:  # a job's failure must never kill the worker thread
                log.exception("job crashed")
            finally:
                with self._lock:
                    self._inflight -= 1
                self._slots.release()

        return self._exec.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self._exec.shutdown(wait=wait, cancel_futures=not wait)
