"""The default deployment (#12): FHE results always have an arbiter, and the market's slash horizon
fits inside the node unbonding delay."""

from __future__ import annotations

from veilproof.chain import Network
from veilproof.chain.deploy import SuiteParams
from veilproof.chain.suite import Suite
from veilproof.incentives.deploy import deploy_network

ZERO = "0x" + "00" * 20


def test_default_deploy_sets_the_fhe_quorum_as_arbiter(net: Network) -> None:
    """Without an arbiter nobody can dispute an FHE result, and `finalize` pays whatever hash the
    node posted. `deploy_network` is what `veilproof deploy` and the local network run."""
    (owner,) = net.new_accounts(1)
    d = deploy_network(net, owner)
    s = Suite.attach(net, d)
    assert s.quorum is not None
    assert s.market.arbiter() == s.quorum.address == d.extra["fhe_quorum"] != ZERO
    assert s.quorum.contract.address == s.market.arbiter()
    p = SuiteParams()
    assert s.market.slash_horizon() == p.max_deadline + 2 * p.challenge_window < p.unbond_delay
