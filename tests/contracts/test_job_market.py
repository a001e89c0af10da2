"""JobMarket: escrow, FHE settle/finalize/dispute, ZK reject and challenge paths, refunds, withdrawals.

The ZK happy path (a proof the verifier accepts) runs in the EZKL tests with real proofs; here the
verifier is a fault injector that rejects, reverts or burns gas, so no test ever fakes a proof.
"""

from __future__ import annotations

import pytest
from market_world import (
    MIN_STAKE,
    MODE_FHE,
    MODE_ZK,
    ONE,
    OPEN,
    PRICE,
    REFUNDED,
    ROYALTY_BPS,
    SETTLED,
    SLASH,
    SLASHED,
    SUBMITTED,
    UNBOND_DELAY,
    WINDOW,
    World,
    field_elem,
    h,
)
from market_world import reverts as revert_with

from veilproof.chain.reverts import mapped_reverts

ZERO = "0x" + "00" * 20
ZERO32 = b"\x00" * 32
NODE_SHARE = PRICE - PRICE * ROYALTY_BPS // 10_000
ROYALTY = PRICE * ROYALTY_BPS // 10_000


def test_price_raised_before_open_is_refused(w: World) -> None:
    """Attack (#12): the model owner front-runs a client's open_job with set_price. The client
    opens with the price it read as ``max_price``: the raise makes the open revert, not overcharge."""
    seen = PRICE
    w.tx(w.models.functions.set_price(w.model_id, 5 * PRICE), w.author)  # lands first
    before = w.bal(w.client)
    with revert_with("price above max"):
        w.open_job(max_price=seen)
    assert w.bal(w.client) == before
    w.tx(w.models.functions.set_price(w.model_id, PRICE // 2), w.author)
    jid = w.open_job(max_price=seen)  # a lower price is fine: the job escrows what it costs now
    assert w.job(jid)["price"] == PRICE // 2 == before - w.bal(w.client)


def _inst(w: World, *outputs: int) -> list[int]:
    return [int.from_bytes(field_elem("input"), "big"), *outputs]


# ------------------------------------------------------------------------------------------ open
def test_open_job_escrows_price(w: World) -> None:
    before = w.bal(w.client)
    jid = w.open_job(MODE_FHE)
    assert jid == 1
    job = w.job(jid)
    assert (job["client"], job["node"], job["model_id"], job["mode"], job["price"], job["status"]) == (
        w.client.address,
        w.node.address,
        w.model_id,
        MODE_FHE,
        PRICE,
        OPEN,
    )
    assert job["input_commitment"] == field_elem("input")
    assert before - w.bal(w.client) == PRICE == w.bal(w.market) == w.call(w.market.functions.escrowed())
    assert w.open_job(MODE_ZK) == 2


def test_open_job_rejects_bad_input(w: World) -> None:
    mk = w.market.functions
    now = w.net.now()

    def op(
        model_id: int = w.model_id,
        node: str = w.node.address,
        com: bytes = field_elem("x"),
        mode: int = MODE_FHE,
        deadline: int = now + 1000,
        keys: bytes | None = None,
        max_price: int = PRICE,
    ) -> None:
        if keys is None:
            keys = h("keys") if mode == MODE_FHE else ZERO32
        w.tx(mk.open_job(model_id, node, com, mode, deadline, keys, max_price), w.client)

    with revert_with("bad mode"):
        op(mode=3)
    with revert_with("bad mode"):
        op(mode=0)
    with revert_with("empty commitment"):
        op(com=ZERO32)
    with revert_with("deadline passed"):
        op(deadline=now - 1)
    with revert_with("deadline too far"):
        op(deadline=now + 86400 + 100)
    with revert_with("unknown model"):
        op(model_id=99)
    with revert_with("node inactive"):
        op(node=w.other.address)
    bare_zk = w.register_model(zk=True, fhe=False, name="zk only")
    bare_fhe = w.register_model(zk=False, fhe=True, name="fhe only")
    with revert_with("no fhe commitment"):
        op(model_id=bare_zk)
    with revert_with("no zk commitment"):
        op(model_id=bare_fhe, mode=MODE_ZK)
    with revert_with("model not served"):
        op(model_id=bare_fhe)
    with revert_with("price above max"):
        op(max_price=PRICE - 1)
    with revert_with("empty eval keys hash"):
        op(keys=ZERO32)
    with revert_with("eval keys on zk job"):
        op(mode=MODE_ZK, keys=h("keys"))
    w.tx(mk.set_zk_verifier(ZERO), w.owner)
    with revert_with("no verifier"):
        op(mode=MODE_ZK)
    w.tx(w.models.functions.retire(w.model_id), w.author)
    with revert_with("model retired"):
        op()


def test_open_job_needs_allowance_and_funds(w: World) -> None:
    w.approve(w.client, w.market, 0)
    with revert_with("insufficient allowance"):
        w.open_job()
    w.approve(w.other, w.market)
    with revert_with("insufficient balance"):
        w.open_job(client=w.other)


def test_free_model_needs_no_tokens(w: World) -> None:
    free = w.register_model(price=0, name="free")
    w.tx(w.nodes.functions.set_models([w.model_id, free]), w.node)
    jid = w.open_job(client=w.other, model_id=free)
    w.submit_fhe(jid)
    w.tx(w.market.functions.accept(jid), w.other)
    assert w.job(jid)["status"] == SETTLED and w.pending(w.node) == 0


def test_node_that_unbonds_below_min_stake_gets_no_jobs(w: World) -> None:
    w.tx(w.nodes.functions.request_unbond(1), w.node)
    with revert_with("node inactive"):
        w.open_job()


# ------------------------------------------------------------------------------------------- FHE
def test_fhe_submit_accept_withdraw(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job()
    w.submit_fhe(jid)
    job = w.job(jid)
    assert job["status"] == SUBMITTED
    assert (job["eval_keys_hash"], job["output_ct_hash"]) == (h("keys"), h("out"))
    assert job["submitted_at"] > 0
    rcpt = w.tx(mk.accept(jid), w.client)
    ev = w.events(w.market, "JobSettled", rcpt)[0]
    assert (ev["node_amount"], ev["royalty"], ev["fee"]) == (NODE_SHARE, ROYALTY, 0)
    assert w.job(jid)["status"] == SETTLED
    assert (w.pending(w.node), w.pending(w.author)) == (NODE_SHARE, ROYALTY)
    assert w.call(mk.escrowed()) == 0
    w.tx(mk.withdraw(), w.node)
    w.tx(mk.withdraw(), w.author)
    assert (w.bal(w.node), w.bal(w.author), w.bal(w.market)) == (NODE_SHARE, ROYALTY, 0)
    with revert_with("nothing to withdraw"):
        w.tx(mk.withdraw(), w.node)


def test_fhe_submit_rejects(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job()
    server = w.call(w.models.functions.model(w.model_id))[9]
    com = field_elem("input")

    def sub(
        job_id: int = jid,
        keys: bytes = h("keys"),
        inp: bytes = com,
        out: bytes = h("o"),
        circ: bytes = server,
        sender: object = w.node,
    ) -> None:
        w.tx(mk.submit_fhe_result(job_id, keys, inp, out, circ), sender)  # type: ignore[arg-type]

    with revert_with("unknown job"):
        sub(job_id=99)
    with revert_with("unknown job"):
        sub(job_id=0)
    with revert_with("not job node"):
        sub(sender=w.other)
    with revert_with("job not started"):
        sub()
    w.start(jid)
    with revert_with("eval keys mismatch"):
        sub(keys=ZERO32)
    with revert_with("empty hash"):
        sub(out=ZERO32)
    with revert_with("input mismatch"):
        sub(inp=h("other input"))
    with revert_with("circuit mismatch"):
        sub(circ=h("cheap circuit"))
    zk_job = w.open_job(MODE_ZK)
    w.start(zk_job)
    with revert_with("wrong mode"):
        sub(job_id=zk_job)
    sub()
    with revert_with("job not open"):
        sub()
    late = w.open_job(ttl=100)
    w.start(late)
    w.net.time_travel(200)
    with revert_with("deadline passed"):
        sub(job_id=late)


def test_accept_rules(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job()
    with revert_with("not submitted"):
        w.tx(mk.accept(jid), w.client)
    w.submit_fhe(jid)
    with revert_with("not client"):
        w.tx(mk.accept(jid), w.node)
    with revert_with("unknown job"):
        w.tx(mk.accept(99), w.client)
    w.tx(mk.accept(jid), w.client)
    with revert_with("not submitted"):
        w.tx(mk.accept(jid), w.client)


def test_finalize_after_window_by_anyone(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job()
    with revert_with("not submitted"):
        w.tx(mk.finalize(jid), w.other)
    w.submit_fhe(jid)
    with revert_with("challenge window open"):
        w.tx(mk.finalize(jid), w.other)
    w.net.time_travel(WINDOW)
    w.tx(mk.finalize(jid), w.other)
    assert w.job(jid)["status"] == SETTLED
    assert w.pending(w.node) == NODE_SHARE
    with revert_with("not submitted"):
        w.tx(mk.finalize(jid), w.other)


def test_dispute_by_arbiter_refunds_and_slashes(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job()
    with revert_with("not arbiter"):
        w.tx(mk.dispute_fhe(jid), w.client)
    with revert_with("not submitted"):
        w.tx(mk.dispute_fhe(jid), w.arbiter)
    w.submit_fhe(jid)
    rcpt = w.tx(mk.dispute_fhe(jid), w.arbiter)
    assert w.events(w.market, "JobSlashed", rcpt)[0]["reason"] == "fhe dispute"
    assert w.job(jid)["status"] == SLASHED
    assert w.pending(w.client) == PRICE
    assert w.node_info(w.node)["stake"] == MIN_STAKE - SLASH
    assert w.bal(w.arbiter) == SLASH // 2  # challenger share
    with revert_with("not submitted"):
        w.tx(mk.dispute_fhe(jid), w.arbiter)


def test_dispute_closes_with_the_window(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job()
    w.submit_fhe(jid)
    w.net.time_travel(WINDOW)
    with revert_with("challenge window closed"):
        w.tx(mk.dispute_fhe(jid), w.arbiter)
    w.tx(mk.finalize(jid), w.client)


def test_fee_and_royalty_split(w: World) -> None:
    mk = w.market.functions
    with revert_with("fee too high"):
        w.tx(mk.set_fee_bps(1001), w.owner)
    w.tx(mk.set_fee_bps(1000), w.owner)
    jid = w.open_job()
    w.submit_fhe(jid)
    w.tx(mk.accept(jid), w.client)
    fee = PRICE // 10
    royalty = (PRICE - fee) * ROYALTY_BPS // 10_000
    assert (w.pending(w.owner), w.pending(w.author), w.pending(w.node)) == (
        fee,
        royalty,
        PRICE - fee - royalty,
    )


def test_royalty_goes_to_current_model_owner(w: World) -> None:
    jid = w.open_job()
    w.submit_fhe(jid)
    w.tx(w.models.functions.transfer_model(w.model_id, w.other.address), w.author)
    w.tx(w.market.functions.accept(jid), w.client)
    assert (w.pending(w.other), w.pending(w.author)) == (ROYALTY, 0)


def test_retired_model_jobs_still_complete(w: World) -> None:
    jid = w.open_job()
    w.tx(w.models.functions.retire(w.model_id), w.author)
    w.submit_fhe(jid)
    w.tx(w.market.functions.accept(jid), w.client)
    assert w.job(jid)["status"] == SETTLED


# ---------------------------------------------------------------------------------------- refund
def test_start_job_access_and_reasons(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job(ttl=100)
    with revert_with("not job node"):
        w.tx(mk.start_job(jid), w.client)
    with revert_with("unknown job"):
        w.tx(mk.start_job(jid + 1), w.node)
    rcpt = w.tx(mk.start_job(jid), w.node)
    assert w.events(w.market, "JobStarted", rcpt)[0]["job_id"] == jid
    assert w.job(jid)["started_at"] > 0
    with revert_with("already started"):
        w.tx(mk.start_job(jid), w.node)
    late = w.open_job(ttl=100)
    w.net.time_travel(200)
    with revert_with("deadline passed"):
        w.tx(mk.start_job(late), w.node)


def test_node_rejects_a_job_client_refunded_at_once(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job(ttl=100)
    with revert_with("not job node"):
        w.tx(mk.reject_job(jid, "bad ciphertext"), w.client)
    w.tx(mk.start_job(jid), w.node)
    rcpt = w.tx(mk.reject_job(jid, "bad ciphertext"), w.node)
    assert w.events(w.market, "JobRejected", rcpt)[0]["reason"] == "bad ciphertext"
    assert w.job(jid)["status"] == REFUNDED
    assert w.pending(w.client) == PRICE
    assert w.node_info(w.node)["slashed_total"] == 0
    assert w.call(mk.escrowed()) == 0
    with revert_with("job not open"):
        w.tx(mk.reject_job(jid, "again"), w.node)


def test_refund_of_a_job_the_node_never_took_does_not_slash(w: World) -> None:
    """A node that refused a malformed request must not be slashed when the client refunds."""
    jid = w.open_job(ttl=100)
    w.net.time_travel(200)
    rcpt = w.tx(w.market.functions.refund(jid), w.client)
    assert w.events(w.market, "JobRefunded", rcpt)[0]["slashed"] is False
    assert w.node_info(w.node)["slashed_total"] == 0
    assert w.pending(w.client) == PRICE


def test_refund_after_missed_deadline_slashes(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job(ttl=100)
    w.tx(mk.start_job(jid), w.node)
    with revert_with("not client"):
        w.tx(mk.refund(jid), w.other)
    with revert_with("deadline not passed"):
        w.tx(mk.refund(jid), w.client)
    w.net.time_travel(200)
    rcpt = w.tx(mk.refund(jid), w.client)
    assert w.events(w.market, "JobRefunded", rcpt)[0]["slashed"] is True
    assert w.job(jid)["status"] == REFUNDED
    assert w.pending(w.client) == PRICE
    assert w.node_info(w.node)["slashed_total"] == SLASH
    with revert_with("job not open"):
        w.tx(mk.refund(jid), w.client)
    w.tx(mk.withdraw(), w.client)
    assert w.bal(w.client) == 100 * ONE + SLASH // 2  # refunded, plus the challenger share


def test_refund_not_after_submission(w: World) -> None:
    jid = w.open_job(ttl=100)
    w.submit_fhe(jid)
    w.net.time_travel(200)
    with revert_with("job not open"):
        w.tx(w.market.functions.refund(jid), w.client)


def test_refund_never_blocked_by_slashing(w: World) -> None:
    """A node that unbonded everything, or a market no longer authorised to slash, still refunds."""
    mk = w.market.functions
    a = w.open_job(ttl=100)
    b = w.open_job(ttl=100)
    w.tx(mk.start_job(a), w.node)
    w.tx(mk.start_job(b), w.node)
    w.tx(w.nodes.functions.request_unbond(MIN_STAKE), w.node)
    w.net.time_travel(UNBOND_DELAY)
    w.tx(w.nodes.functions.withdraw_unbonded(), w.node)
    rcpt = w.tx(mk.refund(a), w.client)
    assert w.events(w.market, "JobRefunded", rcpt)[0]["slashed"] is True  # slash of nothing is a no-op
    w.tx(w.nodes.functions.authorize(w.market.address, False), w.owner)
    rcpt = w.tx(mk.refund(b), w.client)
    assert w.events(w.market, "JobRefunded", rcpt)[0]["slashed"] is False
    assert w.pending(w.client) == 2 * PRICE
    assert w.call(mk.escrowed()) == 0


def test_refund_without_slash_amount(w: World) -> None:
    w.tx(w.market.functions.set_slash_amount(0), w.owner)
    jid = w.open_job(ttl=100)
    w.tx(w.market.functions.start_job(jid), w.node)
    w.net.time_travel(200)
    w.tx(w.market.functions.refund(jid), w.client)
    assert w.node_info(w.node)["stake"] == MIN_STAKE


# -------------------------------------------------------------------------------------------- ZK
def test_zk_submit_rejects(w: World) -> None:
    mk = w.market.functions
    jid = w.open_job(MODE_ZK)
    proof = b"\x01" * 64
    with revert_with("job not started"):
        w.tx(mk.submit_zk_result(jid, _inst(w, 7), proof), w.node)
    w.start(jid)
    with revert_with("not job node"):
        w.tx(mk.submit_zk_result(jid, _inst(w, 7), proof), w.other)
    with revert_with("no instances"):
        w.tx(mk.submit_zk_result(jid, [], proof), w.node)
    with revert_with("input mismatch"):
        w.tx(mk.submit_zk_result(jid, [123, 7], proof), w.node)
    with revert_with("proof rejected"):
        w.tx(mk.submit_zk_result(jid, _inst(w, 7), proof), w.node)
    reverting = w.use_verifier("RevertingVerifier")
    with revert_with("proof rejected"):  # still asks the rejecting verifier the job was opened under
        w.tx(mk.submit_zk_result(jid, _inst(w, 7), proof), w.node)
    assert w.job(jid)["verifier"] != reverting.address
    later = w.open_job(MODE_ZK)
    w.start(later)
    assert w.job(later)["verifier"] == reverting.address
    with revert_with("proof rejected"):
        w.tx(mk.submit_zk_result(later, _inst(w, 7), proof), w.node)
    fhe_job = w.open_job(MODE_FHE)
    w.start(fhe_job)
    with revert_with("wrong mode"):
        w.tx(mk.submit_zk_result(fhe_job, _inst(w, 7), proof), w.node)
    with revert_with():  # 65 instances: over DynArray[uint256, 64]
        w.tx(mk.submit_zk_result(jid, _inst(w, *range(64)), proof), w.node)
    w.net.time_travel(2000)
    with revert_with("deadline passed"):
        w.tx(mk.submit_zk_result(jid, _inst(w, 7), proof), w.node)
    assert w.job(jid)["status"] == OPEN


@pytest.mark.parametrize("verifier", ["RejectingVerifier", "RevertingVerifier"])
def test_challenge_invalid_proof_slashes(w: World, verifier: str) -> None:
    mk = w.market.functions
    w.use_verifier(verifier)
    jid = w.open_job(MODE_ZK)
    inst, proof = _inst(w, 42), b"\x02" * 100
    sig = w.sign_claim(jid, inst, proof)
    rcpt = w.tx(mk.challenge_zk(jid, inst, proof, sig), w.client)
    assert w.events(w.market, "JobSlashed", rcpt)[0]["reason"] == "invalid zk claim"
    assert w.job(jid)["status"] == SLASHED
    assert w.pending(w.client) == PRICE
    assert w.node_info(w.node)["slashed_total"] == SLASH
    assert w.bal(w.client) == 100 * ONE - PRICE + SLASH // 2
    with revert_with("job not open"):
        w.tx(mk.challenge_zk(jid, inst, proof, sig), w.client)


def test_challenge_input_mismatch_slashes_without_asking_the_verifier(w: World) -> None:
    mk = w.market.functions
    w.use_verifier("GasBurningVerifier")  # would make any verifier call fail
    jobs = [w.open_job(MODE_ZK), w.open_job(MODE_ZK)]  # open both before the first slash
    for jid, inst in zip(jobs, ([999, 1], []), strict=True):
        w.tx(mk.challenge_zk(jid, inst, b"p", w.sign_claim(jid, inst, b"p")), w.client)
        assert w.job(jid)["status"] == SLASHED


def test_challenge_signature_checks(w: World) -> None:
    mk = w.market.functions
    w.use_verifier("RejectingVerifier")
    jid = w.open_job(MODE_ZK)
    inst, proof = _inst(w, 1), b"\x03" * 10
    good = w.sign_claim(jid, inst, proof)
    with revert_with("not client"):
        w.tx(mk.challenge_zk(jid, inst, proof, good), w.other)
    with revert_with("not node signature"):
        w.tx(mk.challenge_zk(jid, inst, proof, w.sign_claim(jid, inst, proof, signer=w.other)), w.client)
    with revert_with("not node signature"):  # signed for another job
        w.tx(mk.challenge_zk(jid, inst, proof, w.sign_claim(jid + 1, inst, proof)), w.client)
    with revert_with("not node signature"):  # claim altered after signing
        w.tx(mk.challenge_zk(jid, [*inst, 5], proof, good), w.client)
    with revert_with("bad signature"):
        w.tx(mk.challenge_zk(jid, inst, proof, good[:64]), w.client)
    with revert_with("bad signature"):
        w.tx(mk.challenge_zk(jid, inst, proof, good[:64] + bytes([29])), w.client)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    twin = r + (n - s).to_bytes(32, "big") + bytes([55 - v])  # the malleable twin (EIP-2)
    with revert_with("bad signature"):
        w.tx(mk.challenge_zk(jid, inst, proof, twin), w.client)
    with revert_with("bad signature"):  # r = 0: ecrecover returns the zero address
        w.tx(mk.challenge_zk(jid, inst, proof, b"\x00" * 32 + good[32:]), w.client)
    fhe = w.open_job(MODE_FHE)
    with revert_with("wrong mode"):
        w.tx(mk.challenge_zk(fhe, inst, proof, w.sign_claim(fhe, inst, proof)), w.client)
    # v given as 0/1 is accepted like 27/28
    w.tx(mk.challenge_zk(jid, inst, proof, good[:64] + bytes([good[64] - 27])), w.client)
    assert w.job(jid)["status"] == SLASHED


def test_challenge_needs_enough_gas_for_the_verifier(w: World) -> None:
    """Too little gas must not turn a verifier failure into a slash of an honest node."""
    w.use_verifier("GasBurningVerifier")
    jid = w.open_job(MODE_ZK)
    inst, proof = _inst(w, 1), b"\x04"
    fn = w.market.functions.challenge_zk(jid, inst, proof, w.sign_claim(jid, inst, proof))
    with revert_with("verifier out of gas"), mapped_reverts("challenge_zk"):
        fn.call({"from": w.client.address, "gas": 2_000_000})
    assert w.job(jid)["status"] == OPEN


# ----------------------------------------------------------------------------------------- admin
def test_admin_setters_are_owner_only(w: World) -> None:
    mk = w.market.functions
    calls = [
        mk.set_zk_verifier(w.other.address),
        mk.set_arbiter(w.other.address),
        mk.set_treasury(w.other.address),
        mk.set_slash_amount(1),
        mk.set_max_deadline(1),
        mk.set_challenge_window(1),
        mk.set_delivery_bond(1),
        mk.set_fee_bps(1),
        mk.transfer_ownership(w.other.address),
    ]
    for fn in calls:
        with revert_with("not owner"):
            w.tx(fn, w.other)
    with revert_with("zero value"):
        w.tx(mk.set_max_deadline(0), w.owner)
    with revert_with("zero address"):
        w.tx(mk.set_treasury(ZERO), w.owner)
    with revert_with("zero address"):
        w.tx(mk.transfer_ownership(ZERO), w.owner)
    for fn in calls:
        w.tx(fn, w.owner)
    assert w.call(mk.owner()) == w.other.address
    assert w.call(mk.max_deadline()) == 1 and w.call(mk.challenge_window()) == 1
    assert w.call(mk.zk_verifier()) == w.other.address == w.call(mk.arbiter()) == w.call(mk.treasury())


def test_views_and_constructor(w: World) -> None:
    mk = w.market.functions
    assert w.call(mk.token()) == w.token.address
    assert w.call(mk.models()) == w.models.address
    assert w.call(mk.nodes()) == w.nodes.address
    assert w.call(mk.job_count()) == 0
    with revert_with("unknown job"):
        w.call(mk.job(1))
    with revert_with("zero treasury"):
        w.net.deploy("JobMarket", w.token.address, w.models.address, w.nodes.address, ZERO, sender=w.owner)
