"""Proving off the node's interpreter, in worker processes.

Why: EZKL holds the GIL while it proves. Measured (digits CNN, 4.3 s proof): a proof in a thread stalled
the node's main thread for 4.0 s, so its event loop stopped answering — ``/health`` timed out and
kept-alive client connections were reset while the job went on to settle (a client was then told
"failed" for a job it paid). Each proof now runs in a process of a spawn pool; the node's threads only
wait on it (without the GIL). Each worker loads a package by digest from the node's store, re-hashing
it, and keeps it for later jobs.

Warm provers: a node that serves ZK models starts its prover processes when it starts
(:meth:`ProcessProver.warm`), and each loads (and re-hashes) every served package in its initializer,
so a model's first job does not pay the process start (interpreter, EZKL, numpy imports: ~2 s) nor
the package load, and no job pays them again. Each proof reports what it cost inside the process
(``package_loads``: how many packages this process has loaded; a model's second job adds none) into
the job's timer (:mod:`veilproof.node.timings`). What stays per proof is EZKL's: its Python API takes
file paths, so ``ezkl.prove`` reads the proving key, circuit and SRS itself on every call (from the page
cache once warm); plain EZKL pays exactly the same.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from veilproof.node import timings

if TYPE_CHECKING:
    from veilproof.models.package import ModelPackage, ZkResult

_PACKAGES: dict[tuple[str, str], ModelPackage] = {}
_LOADS = 0  # packages loaded by this process: a counter a test reads through the job's timings
_log = logging.getLogger("veilproof.node")


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a prover must not outlive its node (a killed node left idle provers of
    ~170 MB behind). Linux's parent-death signal where available, else a watchdog thread."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the node died before the signal was armed
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-node", daemon=True).start()


def _package(store_root: str, digest: str) -> ModelPackage:
    global _LOADS
    from veilproof.artifacts import ArtifactStore
    from veilproof.models.package import ModelPackage

    key = (store_root, digest)
    if key not in _PACKAGES:
        _PACKAGES[key] = ModelPackage.load(ArtifactStore(Path(store_root)), digest)
        _LOADS += 1
    return _PACKAGES[key]


def _init_worker(parent: int, store_root: str, digests: tuple[str, ...], threads: int | None = None) -> None:
    """Worker initializer: tie the process to its node, size EZKL's thread pool, import the engine, load
    the served packages. A package that fails to load here is only logged: its jobs load it (and fail
    with the reason)."""
    _exit_with_parent(parent)
    if threads is not None:
        # read by rayon when its global pool starts, at EZKL's first parallel step: before any import
        os.environ["RAYON_NUM_THREADS"] = str(threads)
    import warnings

    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)  # the node warned once at start-up
    for d in digests:
        try:
            _package(store_root, d)
        except Exception as e:  # an initializer that raises breaks the whole pool
            _log.warning("prover %s: cannot preload package %s: %s", os.getpid(), d[:12], e)


def _ready() -> int:
    return os.getpid()


def _prove_in_worker(
    store_root: str, digest: str, x: np.ndarray, local_verify: bool = True
) -> tuple[ZkResult, dict[str, Any]]:
    from veilproof.models.package import prove
    from veilproof.zk.prover import EzklProver

    t0 = time.perf_counter()
    loads = _LOADS
    pkg = _package(store_root, digest)
    t1 = time.perf_counter()
    engine = EzklProver(verify_after_prove=local_verify)
    result = prove(pkg, x, engine)
    t2 = time.perf_counter()
    phases = {"load": t1 - t0, **engine.phases}
    # What package.prove does besides EZKL's calls: the input's shape check, Poseidon commitment.
    phases["prove_checks"] = max((t2 - t1) - sum(engine.phases.values()), 0.0)
    stats = {"phases": phases, "pid": os.getpid(), "package_loads": _LOADS, "loaded_for_job": _LOADS - loads}
    return result, stats


#: Whether the proof of the job this thread handles is verified in the prover before it is returned
#: (True) or verified by the chain's ``eth_call`` before the node signs anything (False, see
#: :func:`chain_verifies`).
_LOCAL_VERIFY: ContextVar[bool] = ContextVar("veilproof_local_verify", default=True)


@contextmanager
def chain_verifies() -> Iterator[None]:
    """Proofs made in the enclosed block skip the prover's local verify. Only for a caller that
    verifies the proof on chain (``eth_call``) before it signs or delivers it: the JobMarket path's
    pre-sign check runs the market's verifier on the same proof, so the local verify was the same
    check twice. The pay-on-proof path keeps it (nothing on chain checks its proof before delivery).
    A context variable rather than a parameter: ``_prove`` is the one override point of the demo's
    cheater and the tests' slow node, and its signature stays."""
    token = _LOCAL_VERIFY.set(False)
    try:
        yield
    finally:
        _LOCAL_VERIFY.reset(token)


class ProcessProver:
    """A pool of ``workers`` prover processes: started by :meth:`warm` when the node starts (with the
    served packages loaded), else on the first proof (a node that serves only FHE, or a test that never
    proves, starts none)."""

    def __init__(self, workers: int, threads: int | None = None) -> None:
        self.workers = workers
        self.threads = threads  # per prover process (NodeConfig.prover_threads); None: rayon's default
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _ensure_pool(self, store_root: str = "", digests: tuple[str, ...] = ()) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(os.getpid(), store_root, digests, self.threads),
                )
            return self._pool

    def warm(self, packages: list[ModelPackage]) -> list[Future[int]]:
        """Start every prover process now, each loading ``packages``; returns without waiting (a job
        that arrives meanwhile waits for its worker's initializer, as it would have loaded anyway).
        One pool serves one store (the node's)."""
        if not packages:
            return []
        roots = {str(p.store.root) for p in packages}
        if len(roots) != 1:
            raise ValueError(f"prover: packages from {len(roots)} stores; a node has one")
        pool = self._ensure_pool(roots.pop(), tuple(p.manifest_digest for p in packages))
        # One task per worker: while no process is idle, each submit spawns one more (up to max).
        return [pool.submit(_ready) for _ in range(self.workers)]

    def prove(self, package: ModelPackage, x: np.ndarray) -> ZkResult:
        """Prove in a worker process; the worker's own phases go into the current job's timer."""
        pool = self._ensure_pool()
        t = time.perf_counter()
        job = pool.submit(
            _prove_in_worker, str(package.store.root), package.manifest_digest, x, _LOCAL_VERIFY.get()
        )
        result, stats = job.result()
        timer = timings.current()
        if timer is not None:
            timer.add_prover(stats, time.perf_counter() - t)
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
