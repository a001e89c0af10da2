"""Wake the HTTP long-polls of a job or an order when the node records a change to it.

Why: a client waiting for a result asked ``GET /jobs/{id}`` or ``GET /zk/orders/{hash}`` every
0.2-0.5 s; a job of a few seconds under load cost the node ten requests (FastAPI, a SQLite read, a
pydantic model each) and the client as many. With ``?wait=S`` the node holds the request until the
row changes (or ``S`` seconds pass) and answers once: one or two requests per job, and the client
learns of the result at once instead of up to a poll interval late.

Rows change in worker threads (NodeStore writes); the waiters are futures on the server's event
loop, set through ``call_soon_threadsafe``. A waiter is registered *before* the row is read, so a
change between the read and the wait is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

R = TypeVar("R")


class Changes:
    """Waiters per key (``job:<id>``, ``order:<hash>``); :meth:`notify` wakes them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[asyncio.Future[None]]:
        """A future set at the next :meth:`notify` of ``key``; call from the event loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            self._waiters.setdefault(key, set()).add(entry)
        try:
            yield fut
        finally:
            with self._lock:
                waiters = self._waiters.get(key)
                if waiters is not None:
                    waiters.discard(entry)
                    if not waiters:
                        del self._waiters[key]

    def notify(self, key: str) -> None:
        """``key`` changed: wake its waiters (from any thread)."""
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for loop, fut in waiters:
            with contextlib.suppress(RuntimeError):  # the loop closed (server stopping)
                loop.call_soon_threadsafe(_set, fut)

    def waiting(self) -> int:
        """How many requests are waiting (for tests and /info-style diagnostics)."""
        with self._lock:
            return sum(len(w) for w in self._waiters.values())


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def until_changed(fut: asyncio.Future[None], timeout: float) -> bool:
    """Wait for ``fut`` at most ``timeout`` seconds; True if it was set (the row changed)."""
    try:
        await asyncio.wait_for(asyncio.shield(fut), timeout)
        return True
    except TimeoutError:
        return False


async def held_read(
    changes: Callable[[], Changes],
    key: str,
    read: Callable[[], R],
    finished: Callable[[R], bool],
    wait: float,
) -> R:
    """``read()`` (a blocking row read, run in the thread pool) answered at once when ``wait`` is 0 or
    the row is ``finished``; else once more after the row changes, or as it is after ``wait`` seconds.
    ``changes`` is asked for only when the read is held."""
    if wait <= 0:
        return await run_in_threadpool(read)
    with changes().watch(key) as changed:
        report = await run_in_threadpool(read)
        if finished(report) or not await until_changed(changed, wait):
            return report
    return await run_in_threadpool(read)


def job_key(job_id: int) -> str:
    return f"job:{job_id}"


def order_key(order_hash: str) -> str:
    return "order:" + order_hash.lower().removeprefix("0x")
