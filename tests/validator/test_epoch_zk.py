"""One whole epoch on a live network: validators audit an honest and a cheating ZK node with paid jobs,
commit, reveal, finalize. The cheater (serves a substituted model) gets weight 0 and no emission."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from world import make_world

from veilproof.chain.views import SETTLED, SLASHED, read_job
from veilproof.demo.epoch import run_epoch
from veilproof.validator import ModelAudit, ValidatorConfig

pytestmark = pytest.mark.slow


def test_epoch_cheater_earns_nothing(tmp_path: Path, mlp, mlp_substitute) -> None:  # type: ignore[no-untyped-def]
    w = make_world(tmp_path, None, mlp, mlp_substitute)
    try:
        t0 = time.perf_counter()
        rep = run_epoch(
            w.lnet, 2, audits=[ModelAudit(w.model_id, mlp.example.x_test[:8])],
            config=ValidatorConfig(audits_per_model=1), seed=1,
        )  # fmt: skip
        dt = time.perf_counter() - t0
        print(f"\nepoch in {dt:.1f}s: {rep.seconds}")
        for n in rep.nodes:
            print(n)
        for v in rep.validators:
            print(v)
        honest, cheater = rep.node("honest"), rep.node("cheater")
        assert all(wt == 0 for wt in cheater.weights.values())
        assert cheater.emission == 0 and cheater.correct == 0 and cheater.audits == 2
        assert honest.emission > 0 and honest.correct == honest.audits == 2
        assert all(wt == 65_535 for wt in honest.weights.values())
        assert all(v.emission > 0 for v in rep.validators)
        assert rep.mirror_agrees
        # the audits were ordinary paid jobs: settled for the honest node, slashed for the cheater
        suite = w.lnet.suite
        jobs = [read_job(suite, i) for i in range(1, suite.market.job_count() + 1)]
        by_node = {(j.node, j.status) for j in jobs}
        assert (w.honest.account.address, SETTLED) in by_node
        assert (w.cheater.account.address, SLASHED) in by_node
        # every audit came from a different, fresh client account
        assert len({j.client for j in jobs}) == len(jobs)
    finally:
        w.lnet.stop()
