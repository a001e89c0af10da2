"""The default deployment (#12): FHE results always have an arbiter, the market's slash horizon fits
inside the node unbonding delay, and what is deployed is the economics the simulation was tuned on."""

from __future__ import annotations

import inspect

import pytest

from veilproof.chain import Network
from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.chain.suite import Suite
from veilproof.errors import ConfigError
from veilproof.incentives.deploy import IncentiveParams, deploy_network
from veilproof.incentives.simulate import SimConfig
from veilproof.node.config import NodeConfig

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


def test_default_deploy_is_the_simulated_economics(net: Network) -> None:
    """Read back from the contracts a default deploy made, compared with the simulation's defaults
    (`veilproof simulate`, docs/incentives.md): what was tuned is what is deployed. Before this, the
    deploy left 100 VEIL stake, a 50 VEIL slash, a 600 s window and no fee: a slash at which garbage
    FHE results paid (break-even audit rate 5.2%, not 0.30%)."""
    (owner,) = net.new_accounts(1)
    s = Suite.attach(net, deploy_network(net, owner))
    assert s.quorum is not None
    sim = SimConfig()
    assert s.market.slash_amount() == int(sim.slash) * ONE_VEIL == 1_000 * ONE_VEIL
    assert s.nodes.min_stake() == int(sim.node_min_stake) * ONE_VEIL == 2_000 * ONE_VEIL
    assert s.market.fee_bps() == sim.fee_bps == 500
    assert s.quorum.false_attest_bps() == sim.false_attest_bps == 100
    assert s.rewards.min_stake() == int(sim.validator_min_stake) * ONE_VEIL
    # a node's stake covers two slashes (the sim's assumption when it books repeated slashes)
    assert s.nodes.min_stake() >= 2 * s.market.slash_amount()
    # the FHE window spans a validator epoch: a quorum can re-execute and audits decrypt before finalize
    assert s.market.challenge_window() >= 3_600
    assert s.market.challenge_window() >= s.rewards.clock().epoch_length
    # nothing slashable outlives the node's unbonding (the contract enforces it; here the defaults)
    assert s.market.slash_horizon() < s.nodes.unbond_delay()
    # a node started with the defaults stakes enough to be active on this deploy
    assert NodeConfig.__dataclass_fields__["stake"].default == s.nodes.min_stake()
    from veilproof.cli.node_cmds import start

    cli_default = inspect.signature(start).parameters["stake"].default.default
    assert cli_default * ONE_VEIL == s.nodes.min_stake()


def test_dev_preset_is_explicit_and_small() -> None:
    """Tests and the demo name the small values; a default deploy never silently gets them."""
    dev = SuiteParams.dev(challenge_window=60)
    assert (dev.min_stake, dev.slash_amount, dev.fee_bps, dev.challenge_window) == (
        100 * ONE_VEIL, 50 * ONE_VEIL, 0, 60,
    )  # fmt: skip
    assert SuiteParams() != SuiteParams.dev()


def test_params_the_contracts_would_refuse_are_refused_before_deploying(net: Network) -> None:
    """A window that pushes the slash horizon past the unbonding delay is a ConfigError naming both,
    raised before any contract is deployed (nothing half-deployed)."""
    (owner,) = net.new_accounts(1)
    nonce = net.w3.eth.get_transaction_count(owner.address)
    bad = SuiteParams(challenge_window=4 * 24 * 3_600)
    with pytest.raises(ConfigError, match="unbond_delay"):
        deploy_network(net, owner, bad)
    with pytest.raises(ConfigError, match="fee_bps"):
        deploy_network(net, owner, SuiteParams(fee_bps=2_000))
    with pytest.raises(ConfigError, match="false_attest_bps"):
        deploy_network(net, owner, SuiteParams.dev(), IncentiveParams(false_attest_bps=5_000))
    assert net.w3.eth.get_transaction_count(owner.address) == nonce
