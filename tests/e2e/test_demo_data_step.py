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
