"""FHE output availability (#12): a real output ciphertext demanded and delivered through the chain.

The attack (the node posts the right hash, never serves the ciphertext, and `finalize` pays it) is
closed by `claim_not_delivered`; tests/contracts/test_market_attacks.py runs it. Here the honest
path with a real Concrete ML ciphertext: the node answers the demand with the ciphertext as
calldata, the client reads it back from the chain and decrypts its answer, the node is paid and
takes the client's bond.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from veilproof.chain import connect
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite
from veilproof.chain.job_market import JobMode, JobStatus
from veilproof.chain.suite import Suite

pytestmark = pytest.mark.slow
PRICE = 2 * ONE_VEIL


def _sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def test_undelivered_output_is_demanded_then_delivered_on_chain(fhe_world) -> None:  # type: ignore[no-untyped-def]
    bundle, client_fhe = fhe_world.bundle("logreg"), fhe_world.client("logreg")
    ct, out = fhe_world.job("logreg", 0)
    keys = client_fhe.evaluation_keys()
    net = connect()
    try:
        owner, node, client = net.new_accounts(3)
        params = SuiteParams.dev(challenge_window=600, delivery_bond=ONE_VEIL)
        s = Suite.attach(net, deploy_suite(net, owner, params))
        mid = s.models.registered_model_id(
            s.models.register_model("lr", PRICE, 0, b"\x01" * 32, [], [], b"\x02" * 32, sender=owner)
        )
        s.models.set_fhe_commitment(
            mid, bytes.fromhex(bundle.client_zip_hash), bytes.fromhex(bundle.server_zip_hash), sender=owner
        )
        s.token.mint(node.address, 100 * ONE_VEIL, sender=owner)
        s.token.mint(client.address, 10 * ONE_VEIL, sender=owner)
        s.nodes.register("http://n.test", b"\x02" * 33, [mid], sender=node)
        s.token.approve(s.nodes.address, 100 * ONE_VEIL, sender=node)
        s.nodes.stake(100 * ONE_VEIL, sender=node)
        s.token.approve(s.market.address, PRICE + ONE_VEIL, sender=client)

        jid = s.market.opened_job_id(
            s.market.open_job(
                mid, node.address, _sha(ct), JobMode.FHE, net.now() + 600, max_price=PRICE,
                eval_keys_hash=_sha(keys), sender=client,
            )
        )  # fmt: skip
        s.market.start_job(jid, sender=node)
        s.market.submit_fhe(
            jid, _sha(keys), _sha(ct), _sha(out), bytes.fromhex(bundle.server_zip_hash), sender=node
        )
        # the node does not serve the output: the client demands it on chain
        assert s.market.delivered_output(jid) is None
        s.market.claim_not_delivered(jid, sender=client)
        d = s.market.delivery(jid)
        assert d.bond == ONE_VEIL and d.due > net.now() and not d.delivered
        rcpt = s.market.deliver_output(jid, out, sender=node)
        print(f"\ndeliver_output: {len(out):,} bytes of ciphertext, {rcpt.gas_used:,} gas")
        got = s.market.delivered_output(jid)
        assert got == out and s.market.delivery(jid).delivered
        y = client_fhe.decrypt(got)
        assert np.allclose(y, client_fhe.decrypt(out)) and abs(float(y.sum()) - 1.0) < 0.05
        net.time_travel(params.challenge_window)
        s.market.finalize(jid, sender=client)
        assert s.market.read_job(jid).status == JobStatus.SETTLED
        assert s.market.pending(node.address) == PRICE + ONE_VEIL  # price (no royalty) + the bond
    finally:
        net.close()
