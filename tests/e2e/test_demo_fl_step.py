"""The demo's federated step (issue #16) inside a live LocalNetwork: 5 Flower clients train, the model is
exported as its logit, built for ZK, served by a new node process, one paid ZK inference settles, and the
TrainingRoyalties splitter that owns the model hands the owner royalty to the honest trainers only."""

from __future__ import annotations

import pytest

from veilproof.chain.deploy import SuiteParams

pytestmark = pytest.mark.slow


def test_fl_step_model_served_paid_and_royalty_reaches_honest_trainers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    import warnings

    from veilproof.artifacts import ArtifactStore
    from veilproof.demo.fl_step import run_fl_step
    from veilproof.demo.network import LocalNetwork
    from veilproof.zk import evm
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    root = tmp_path_factory.mktemp("fl-zk")
    v = evm.compile_reusable_verifier()
    lnet = LocalNetwork.start(root / "net", None, params=SuiteParams.dev(), verifier=(v.abi, v.bytecode))
    try:
        store = ArtifactStore(tmp_path_factory.getbasetemp() / "zk-shared" / "store")
        rep = run_fl_step(lnet.suite, lnet.owner, print, root / "work", lnet=lnet, store=store)
        print(
            f"\nfl step {rep.seconds:.1f} s (ZK part {rep.zk_extra_seconds:.1f} s, logrows {rep.zk_logrows})",
            rep.rows,
        )
        assert rep.job_status == "settled"
        assert rep.zk_logrows <= 12  # logit only: no sigmoid lookup table (was 17 with it)
        assert (rep.job_logit > 0) == (rep.local_logit > 0) and abs(rep.job_logit - rep.local_logit) < 0.5
        for r in rep.rows:
            royalty = int(str(r["royalty"]))
            if r["behavior"] == "honest":
                assert royalty > 0, r
            else:  # the free-rider and the poisoner scored 0, so they get no royalty either
                assert royalty == 0, r
        assert rep.passed
    finally:
        lnet.stop()
