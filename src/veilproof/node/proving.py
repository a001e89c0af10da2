"""Proving off the node's interpreter, in worker processes.

Why: EZKL holds the GIL while it proves. Measured (digits CNN, 4.3 s proof): a proof in a thread stalled
the node's main thread for 4.0 s, so its event loop stopped answering — ``/health`` timed out and
kept-alive client connections were reset while the job went on to settle (a client was then told
"failed" for a job it paid). Each proof now runs in a process of a spawn pool; the node's threads only
wait on it (without the GIL). Each worker loads a package by digest from the node's store, re-hashing
it, and keeps it for later jobs.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from veilproof.models.package import ModelPackage, ZkResult

_PACKAGES: dict[tuple[str, str], ModelPackage] = {}


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
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"))
        job = self._pool.submit(_prove_in_worker, str(package.store.root), package.manifest_digest, x)
        return job.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
