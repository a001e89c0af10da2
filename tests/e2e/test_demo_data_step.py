"""The demo's data-market step (issue #15) on a fresh suite: consents, a revocation kept out of the
next version, compute-to-data training, quality-weighted payouts and a model with data lineage."""

from __future__ import annotations

import pytest

from veilproof.chain import Network
from veilproof.chain.deploy import SuiteParams, deploy_suite
from veilproof.chain.suite import Suite
from veilproof.demo.data_step import run_data_step

pytestmark = pytest.mark.slow


def test_data_step(net: Network) -> None:
    owner = net.new_accounts(1)[0]
    suite = Suite.attach(net, deploy_suite(net, owner, SuiteParams.dev()))
    rep = run_data_step(net, suite, owner, print)
    print(f"\ndata step {rep.seconds:.1f} s", rep.rows(), rep.gas)
    assert rep.revoked_refused and rep.records == 149
    assert rep.accuracy > 0.9
    assert rep.lineage_matches
    assert rep.data_royalty_bps == 3000  # fixed when the model named its lineage
    # contributors are paid by measured quality: a positive score earns, a score <= 0 earns nothing
    for score, earned in zip(rep.scores, rep.earnings.values(), strict=False):
        assert (earned > 0) == (score > 0)


def test_data_step_paid_zk_inference_pays_contributors(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The bought model goes to ONNX + EZKL, is published with its lineage, served by a node process
    of a live LocalNetwork (which checks the lineage and refuses nothing), and one paid ZK inference
    credits every contributor with a positive score a share of the data royalty."""
    import warnings

    from veilproof.artifacts import ArtifactStore
    from veilproof.demo.network import LocalNetwork
    from veilproof.zk import evm
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    root = tmp_path_factory.mktemp("data-zk")
    v = evm.compile_reusable_verifier()
    lnet = LocalNetwork.start(root / "net", None, params=SuiteParams.dev(), verifier=(v.abi, v.bytecode))
    try:
        store = ArtifactStore(tmp_path_factory.getbasetemp() / "zk-shared" / "store")
        rep = run_data_step(lnet.net, lnet.suite, lnet.owner, print, lnet=lnet, store=store)
        print(f"\ndata step {rep.seconds:.1f} s", rep.rows(), rep.gas)
        assert rep.lineage_matches and rep.data_royalty_bps == 3000
        assert rep.job_status == "settled"  # the node admitted and proved the job: it refused nothing
        assert (rep.job_logit > 0) == (rep.local_logit > 0) and abs(rep.job_logit - rep.local_logit) < 0.5
        assert rep.royalty_collected > 0
        assert sum(rep.royalty_earned.values()) > 0
        for score, earned in zip(rep.scores, rep.royalty_earned.values(), strict=True):
            assert (earned > 0) == (score > 0)
        node = lnet.nodes[-1]
        assert "TaintedLineage" not in (node.home / "node.log").read_text(errors="replace")
    finally:
        lnet.stop()
