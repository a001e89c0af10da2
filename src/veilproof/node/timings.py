"""Where a job's time goes inside the node: one :class:`JobTimer` per job, phases recorded by name.

Why: the node's promise is to add little to the engine (EZKL's prove, Concrete ML's run). That is
only checkable if every job says where its wall time went — admission checks, chain reads, the
``start_job`` transaction, ECIES, witness, prove, local verify, the pre-sign ``eth_call``, the submit —
so ``GET /jobs/{id}`` carries the table (:class:`veilproof.protocol.api.JobTimings`) and
``bench/zk.py`` / ``bench/fhe.py`` read it.

How: code marks a phase with ``with phase("start_job"): ...`` and does not pass a timer around; the
timer of the job being handled is a context variable, set by :meth:`TimerBook.recording` around the
admission request and around the worker's run of the job. Outside a job ``phase`` costs nothing.
Phases may nest: a phase's time excludes the phases inside it (``admission`` is the checks without
their ``chain_reads``), so every phase is a disjoint slice of the job's wall time; what no phase covers
is reported as ``other``, and the phases always add up to the total.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from veilproof.protocol.api import JobTimings

_CURRENT: ContextVar[JobTimer | None] = ContextVar("veilproof_job_timer", default=None)


class JobTimer:
    """The phases of one job, in the order they first happened (seconds, wall clock)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.finished: float | None = None
        self.phases: dict[str, float] = {}
        self.prover: dict[str, Any] = {}
        self._marks: dict[str, float] = {}
        self._open: list[float] = []  # time spent in nested phases, per open phase

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + max(seconds, 0.0)

    def mark(self, name: str) -> None:
        """Remember now (e.g. when the job was queued), for :meth:`since`."""
        self._marks[name] = time.perf_counter()

    def since(self, mark: str, phase_name: str) -> None:
        """Record the time from ``mark`` to now as ``phase_name`` (nothing if never marked)."""
        t = self._marks.pop(mark, None)
        if t is not None:
            self.add(phase_name, time.perf_counter() - t)

    def add_prover(self, stats: Mapping[str, Any], round_trip_s: float) -> None:
        """Phases measured inside the prover process, plus the hand-over to it and back (``prover_ipc``:
        pickling the input and result, the pool's queue, process scheduling)."""
        inner = 0.0
        for k, v in stats.get("phases", {}).items():
            self.add(k, float(v))
            inner += float(v)
        self.add("prover_ipc", round_trip_s - inner)
        if self._open:  # called inside a phase: that phase excludes the prover's time
            self._open[-1] += round_trip_s
        self.prover = {k: v for k, v in stats.items() if k != "phases"}

    def finish(self) -> None:
        if self.finished is None:
            self.finished = time.perf_counter()

    def report(self) -> JobTimings:
        end = self.finished if self.finished is not None else time.perf_counter()
        total = end - self.started
        phases = {k: round(v, 6) for k, v in self.phases.items()}
        phases["other"] = round(max(total - sum(self.phases.values()), 0.0), 6)
        return JobTimings(total_s=round(total, 6), phases=phases, prover=dict(self.prover),
                          complete=self.finished is not None)  # fmt: skip


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the enclosed block as ``name`` in the current job's timer (no-op outside a job)."""
    timer = _CURRENT.get()
    if timer is None:
        yield
        return
    t = time.perf_counter()
    timer._open.append(0.0)
    try:
        yield
    finally:
        elapsed = time.perf_counter() - t
        nested = timer._open.pop()
        timer.add(name, elapsed - nested)
        if timer._open:
            timer._open[-1] += elapsed


@contextmanager
def engine_phases(read: Callable[[], Mapping[str, float]], ipc: str, rest: str) -> Iterator[None]:
    """Time the enclosed engine call; record the engine's own phases (``read()`` after the call, e.g.
    ``FheServer.phases``) with their ``ipc`` entry renamed ``ipc``, and the remainder of the call's
    wall time as ``rest`` (e.g. reading the evaluation keys)."""
    timer = _CURRENT.get()
    if timer is None:
        yield
        return
    t = time.perf_counter()
    timer._open.append(0.0)
    ok = False
    try:
        yield
        ok = True
    finally:
        elapsed = time.perf_counter() - t
        timer._open.pop()
        inner = 0.0
        for k, v in read().items() if ok else ():  # a failed call's phases are a previous call's
            timer.add(ipc if k == "ipc" else k, v)
            inner += v
        timer.add(rest, elapsed - inner)
        if timer._open:
            timer._open[-1] += elapsed


@contextmanager
def suspended() -> Iterator[None]:
    """No job timer for the enclosed block (this thread only). Why: admission sends ``start_job`` while
    the job's worker already proves; the worker's phases cover that wall time, and timing both would
    count it twice (phases are disjoint slices). What ``start_job`` adds to the job is timed by the
    worker, as its wait for the transaction (see :meth:`veilproof.node.work.Work._await_start`)."""
    token = _CURRENT.set(None)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> JobTimer | None:
    """The timer of the job this thread is handling, if any."""
    return _CURRENT.get()


class TimerBook:
    """The node's timers: live ones by job id, and the most recent finished ones (bounded; the finished
    report is also persisted with the job, see :meth:`veilproof.node.store.NodeStore.save_timings`)."""

    def __init__(self, keep: int = 1024) -> None:
        # Keyed by JobMarket job id (int) or pay-on-proof order hash (str, 64 hex): both kinds of ZK job
        # count in the per-model medians /info shows (a node selling only pay-on-proof has them too).
        self._timers: OrderedDict[int | str, JobTimer] = OrderedDict()
        self._model: dict[int | str, int] = {}  # job id / order hash -> model id
        self._keep = keep
        self._lock = threading.Lock()

    @contextmanager
    def recording(self, timer: JobTimer) -> Iterator[JobTimer]:
        """Make ``timer`` the current one for the enclosed block (this thread / task only)."""
        token = _CURRENT.set(timer)
        try:
            yield timer
        finally:
            _CURRENT.reset(token)

    def adopt(self, job_id: int | str, timer: JobTimer, model_id: int | None = None) -> None:
        """The job was recorded: its timer is now the job's (replays never get here, so a replayed
        request cannot overwrite the timer of the job it replays)."""
        with self._lock:
            self._timers[job_id] = timer
            self._timers.move_to_end(job_id)
            if model_id is not None:
                self._model[job_id] = model_id
            while len(self._timers) > self._keep:
                old, _ = self._timers.popitem(last=False)
                self._model.pop(old, None)

    def recent_job_time(self, model_id: int, last: int = 20) -> tuple[float | None, int]:
        """(median wall time in seconds, count) of the last ``last`` finished jobs on ``model_id``.

        Why a median of recent jobs: it is what a client should expect to wait on this node now (the
        warm-prover steady state, a slower machine, a loaded one), and one outlier (a first job loading
        its keys, a slow RPC) does not move it. None until a job on the model finished."""
        with self._lock:
            done = [
                t.finished - t.started
                for j, t in reversed(self._timers.items())
                if t.finished is not None and self._model.get(j) == model_id
            ][:last]
        if not done:
            return None, 0
        done.sort()
        n = len(done)
        mid = done[n // 2] if n % 2 else (done[n // 2 - 1] + done[n // 2]) / 2
        return round(mid, 6), n

    def get(self, job_id: int | str) -> JobTimer | None:
        with self._lock:
            return self._timers.get(job_id)

    def for_job(self, job_id: int | str, model_id: int | None = None) -> JobTimer:
        """The job's (or order's) timer; a new one for a job recovered after a restart (its admission
        was before)."""
        with self._lock:
            t = self._timers.get(job_id)
        if t is None:
            t = JobTimer()
            self.adopt(job_id, t, model_id)
        return t
