"""Proving off the node's interpreter, in worker processes.

Why: EZKL holds the GIL while it proves. Measured (digits CNN, 4.3 s proof): a proof in a thread stalled
the node's main thread for 4.0 s, so its event loop stopped answering — ``/health`` timed out and
kept-alive client connections were reset while the job went on to settle (a client was then told
"failed" for a job it paid). Each proof now runs in a process of a spawn pool; the node's threads only
wait on it (without the GIL). Each worker loads a package by digest from the node's store, re-hashing
it, and keeps it for later jobs.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from veilproof.models.package import ModelPackage, ZkResult

_PACKAGES: dict[tuple[str, str], ModelPackage] = {}


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


def _prove_in_worker(store_root: str, digest: str, x: np.ndarray) -> ZkResult:
    from veilproof.artifacts import ArtifactStore
    from veilproof.models.package import ModelPackage, prove

    key = (store_root, digest)
    if key not in _PACKAGES:
        _PACKAGES[key] = ModelPackage.load(ArtifactStore(Path(store_root)), digest)
    return prove(_PACKAGES[key], x)


class ProcessProver:
    """A pool of ``workers`` prover processes, started on the first proof (a node that serves only FHE,
    or a test that never proves, starts none)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def prove(self, package: ModelPackage, x: np.ndarray) -> ZkResult:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        job = self._pool.submit(_prove_in_worker, str(package.store.root), package.manifest_digest, x)
        return job.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
