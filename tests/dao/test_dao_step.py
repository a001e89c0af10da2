"""The demo's DAO step on a fresh default network: the window change lands only after the timelock
delay, the old owner is refused, and the grant pays only once the recipient's model is published."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from veilproof.chain import Network
from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.chain.suite import Suite
from veilproof.demo.dao_step import GRANT_VEIL, run_dao_step
from veilproof.incentives.deploy import deploy_network


def test_dao_step(net: Network) -> None:
    (owner,) = net.new_accounts(1)
    d = deploy_network(net, owner, SuiteParams.dev())
    suite = Suite.attach(net, d)

    def publish(researcher: LocalAccount, dataset_id: int) -> int:
        m = suite.models
        rcpt = m.register_model(
            "open", ONE_VEIL, 0, b"\x01" * 32, [], [dataset_id], b"\x00" * 32, sender=researcher
        )
        mid = m.registered_model_id(rcpt)
        m.set_zk_commitment(mid, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, sender=researcher)
        return mid

    r = run_dao_step(net, d, owner, publish, say=lambda _m: None)
    assert (r.window_before, r.window_after) == (600, 900)
    assert r.refused_before_delay and r.owner_refused and r.refused_before_model
    assert r.grant_paid == GRANT_VEIL * ONE_VEIL
    print("gas", r.gas)
