"""One Job struct for JobMarket, FheQuorum and Reputation (#12): the same job read through all three.

They used to decode `JobMarket.job` with their own 13-field copies of a 14-field struct; now all
three import contracts/lib/jobs.vy. Each contract's behaviour below depends on reading a different
field at the right position (mode, status, submitted_at, output_ct_hash, eval_keys_hash, price,
model_id, input_commitment, client, node), so a layout drift fails here.
"""

from __future__ import annotations

from eth_utils import keccak

from veilproof.agents.reputation import ReputationClient
from veilproof.incentives.onchain import Subnet

from .conftest import ONE, reverts

KEYS, INPUT, OUT = keccak(b"eval keys"), keccak(b"input ct"), keccak(b"posted output")


def test_one_job_read_through_market_quorum_and_reputation(subnet: Subnet) -> None:
    s = subnet
    market, q = s.market, s.quorum.contract.functions
    client, node, validator = s.net.new_accounts(1)[0], s.node_accts[0], s.validators[0]
    s.mint(client.address, 100 * ONE)
    s.token.approve(market.address, 2**256 - 1, sender=client)
    server = bytes.fromhex(s.market_models().read_model(s.model_id).fhe_server_hash)
    jid = market.opened_job_id(
        market.open_job(
            s.model_id, node.address, INPUT, 2, s.net.now() + 1000, max_price=10 * ONE,
            eval_keys_hash=KEYS, sender=client,
        )
    )  # fmt: skip
    market.start_job(jid, sender=node)
    market.submit_fhe(jid, KEYS, INPUT, OUT, server, sender=node)
    job = market.read_job(jid)

    # FheQuorum: mode + status + submitted_at (window open) let it attest; output_ct_hash is compared
    with reverts("hash matches"):
        s.tx(q.attest_mismatch(jid, OUT), validator)
    s.tx(q.attest_mismatch(jid, keccak(b"recomputed")), validator)  # below quorum: job stays submitted

    # Reputation: client/node/status/price gate feedback; the evidence is copied from the job
    market.accept(jid, sender=client)
    rep = ReputationClient(s.net, s.net.deploy("Reputation", market.address, sender=s.owner).address)
    rep.give_feedback(client, jid, 90)
    v = rep.validation(jid)
    assert v is not None
    assert (v.job_id, v.mode, v.model_id, v.input_commitment, v.price) == (
        jid, int(job.mode), job.model_id, INPUT, job.price,
    )  # fmt: skip
    assert (v.output_hash.hex(), v.proof_hash.hex()) == (job.output_ct_hash, job.eval_keys_hash)
    assert (v.output_hash, v.proof_hash) == (OUT, KEYS)
    assert rep.summary(node.address).count == 1
