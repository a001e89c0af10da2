"""The node's prover processes take ``NodeConfig.prover_threads`` (EZKL's rayon pool size): the setting
must reach the process before EZKL starts its pool, and the rule for a shared machine must hold."""

from __future__ import annotations

import os

import pytest

from veilproof.node.config import prover_threads_for
from veilproof.node.proving import ProcessProver


def _prover_env(threads: int | None) -> str | None:
    prover = ProcessProver(1, threads)
    try:
        pool = prover._ensure_pool()
        return pool.submit(os.getenv, "RAYON_NUM_THREADS").result(timeout=120)
    finally:
        prover.close()


def test_prover_processes_get_the_configured_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    assert _prover_env(1) == "1"
    assert _prover_env(None) is None  # rayon's default: one thread per core
    assert os.getenv("RAYON_NUM_THREADS") is None  # the node's own process is left alone


def test_one_thread_each_once_provers_fill_the_cores() -> None:
    assert prover_threads_for(1, cores=2) is None
    assert prover_threads_for(2, cores=2) == 1
    assert prover_threads_for(4, cores=2) == 1
    assert prover_threads_for(3, cores=8) is None
    assert prover_threads_for(8, cores=8) == 1
