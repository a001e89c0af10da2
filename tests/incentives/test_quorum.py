"""FheQuorum.vy: a stake-weighted quorum of re-execution attestations slashes through JobMarket."""

from __future__ import annotations

from eth_utils import keccak
from web3.logs import DISCARD

from veilproof.incentives.onchain import Subnet

from .conftest import ONE, reverts, submitted_fhe_job

SLASHED = 5
OUT = keccak(b"posted output")
OTHER = keccak(b"recomputed output")


def _fhe_job(s: Subnet) -> tuple[int, object, object]:
    return submitted_fhe_job(s, OUT)


def test_quorum_disputes_and_slashes(subnet: Subnet) -> None:
    """Stakes 2k,3k,4k,5k (14k total); quorum 2/3 → 9.34k needed: 5k+4k is short, +3k passes."""
    s = subnet
    q = s.quorum.contract.functions
    job_id, client, node = _fhe_job(s)
    stake0 = int(s.net.call(s.nodes.contract.functions.node(node.address))[2])
    v0, v1, v2, v3 = s.validators
    assert s.net.call(q.attest_mismatch(job_id, OTHER), v3.address) is False  # a call: below quorum
    s.tx(q.attest_mismatch(job_id, OTHER), v3)
    s.tx(q.attest_mismatch(job_id, keccak(b"a different hash")), v0)  # splits no vote onto OTHER
    s.tx(q.attest_mismatch(job_id, OTHER), v2)
    assert int(s.net.call(q.support(job_id, OTHER))) == 9_000 * ONE
    assert int(s.net.call(s.market.contract.functions.job(job_id))[7]) == 2  # still submitted
    rcpt = s.tx(q.attest_mismatch(job_id, OTHER), v1)
    ev = s.quorum.contract.events.Disputed().process_receipt(rcpt.raw, errors=DISCARD)[0]["args"]
    assert ev["support"] == 12_000 * ONE and ev["total_stake"] == 14_000 * ONE
    assert int(s.net.call(s.market.contract.functions.job(job_id))[7]) == SLASHED
    slash = int(s.net.call(s.market.contract.functions.slash_amount()))
    assert int(s.net.call(s.nodes.contract.functions.node(node.address))[2]) == stake0 - slash
    assert int(s.net.call(s.market.contract.functions.pending(client.address))) == 10 * ONE  # refund
    reward = int(ev["reward"])
    assert reward == slash * 5000 // 10000  # challenger share of the slash
    assert int(s.net.call(q.pending(v3.address))) == 0  # shares are pulled: collect, then claim
    for v in (v1, v2, v3):
        s.tx(q.collect(job_id, v.address), v0)  # anyone may collect for an attester
    with reverts("already settled"):
        s.tx(q.collect(job_id, v1.address), v0)
    with reverts("not a winning attester"):  # v0 attested another hash
        s.tx(q.collect(job_id, v0.address), v0)
    shares = {v.address: int(s.net.call(q.pending(v.address))) for v in (v1, v2, v3)}
    assert reward - 3 < sum(shares.values()) <= reward and int(s.net.call(q.pending(v0.address))) == 0
    assert shares[v3.address] * 3 // 5 - shares[v1.address] <= 1  # pro rata to stake (5k vs 3k)
    before = int(s.net.call(s.token.contract.functions.balanceOf(v3.address)))
    s.tx(q.claim(), v3)
    assert int(s.net.call(s.token.contract.functions.balanceOf(v3.address))) - before == shares[v3.address]
    with reverts("nothing to claim"):
        s.tx(q.claim(), v3)
    with reverts("already disputed"):
        s.tx(q.attest_mismatch(job_id, OTHER), v0)


def test_attestation_checks(subnet: Subnet) -> None:
    s = subnet
    q = s.quorum.contract.functions
    job_id, client, node = _fhe_job(s)
    v = s.validators[0]
    with reverts("not validator"):
        s.tx(q.attest_mismatch(job_id, OTHER), client)
    with reverts("hash matches"):  # re-execution agreed with the node: no evidence
        s.tx(q.attest_mismatch(job_id, OUT), v)
    with reverts("empty hash"):
        s.tx(q.attest_mismatch(job_id, b"\x00" * 32), v)
    s.tx(q.attest_mismatch(job_id, OTHER), v)
    with reverts("already attested"):
        s.tx(q.attest_mismatch(job_id, OTHER), v)
    # only the quorum may dispute
    with reverts("not arbiter"):
        s.tx(s.market.contract.functions.dispute_fhe(job_id), v)
    # after the window, attestations are refused and the job can settle
    s.net.time_travel(int(s.net.call(s.market.contract.functions.challenge_window())) + 1)
    with reverts("window closed"):
        s.tx(q.attest_mismatch(job_id, OTHER), s.validators[1])
    s.tx(s.market.contract.functions.finalize(job_id), client)
    with reverts("not submitted"):
        s.tx(q.attest_mismatch(job_id, OTHER), s.validators[1])


def test_quorum_admin(subnet: Subnet) -> None:
    s = subnet
    q = s.quorum.contract.functions
    with reverts("not owner"):
        s.tx(q.set_quorum(9000), s.validators[0])
    with reverts("bad quorum"):
        s.tx(q.set_quorum(5000), s.owner)
    s.tx(q.set_quorum(9000), s.owner)
    assert int(s.net.call(q.quorum_bps())) == 9000
    assert s.net.call(s.market.contract.functions.arbiter()) == s.quorum.address
