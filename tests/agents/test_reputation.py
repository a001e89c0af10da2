"""Reputation: only the counterparty of a settled, paid job may rate, once per job, never itself."""

from __future__ import annotations

from agents_support import MIN_STAKE, MODE_FHE, ONE, PRICE, h, reverts
from web3.logs import DISCARD

from veilproof.agents import AgentError, reputation_score
from veilproof.agents.reputation import Summary, tag, untag


def test_client_rates_node_with_validation_record(aw) -> None:
    rep = aw.reputation
    jid = aw.settled_job()
    rcpt = aw.tx(rep.feedback_call(jid, 90, ["fast", "accurate"]), aw.client)
    fb = rep.feedback(1)
    assert (fb.job_id, fb.rater, fb.subject, fb.score, fb.tags) == (
        jid,
        aw.client.address,
        aw.node.address,
        90,
        ("fast", "accurate"),
    )
    assert rep.summary(aw.node.address) == Summary(1, 90)
    assert aw.call(rep.contract.functions.average(aw.node.address)) == 9000
    v = rep.validation(jid)
    job = aw.call(aw.market.contract.functions.job(jid))
    assert v is not None
    assert (v.job_id, v.mode, v.model_id, v.input_commitment, v.price) == (jid, 2, aw.model_id, job[3], PRICE)
    assert v.output_hash == job[11] == h("out")  # FHE: output ciphertext hash
    assert v.proof_hash == job[10] == h("keys")  # FHE: evaluation keys hash
    ev = rep.contract.events.ValidationRecorded().process_receipt(rcpt.raw, errors=DISCARD)[0]["args"]
    assert ev["job_id"] == jid and ev["output_hash"] == h("out")
    # the node rates the client back; the validation record is shared, not duplicated
    rcpt2 = aw.tx(rep.feedback_call(jid, 70, ["paid-on-time"]), aw.node)
    assert rep.contract.events.ValidationRecorded().process_receipt(rcpt2.raw, errors=DISCARD) == ()
    assert rep.summary(aw.client.address) == Summary(1, 70)
    assert [f.score for f in rep.history(aw.node.address)] == [90]
    assert rep.validation(jid + 100) is None


def test_access_rules(aw) -> None:
    rep = aw.reputation
    f = rep.contract.functions
    # no rating without a settled job
    open_jid = aw.open_job()
    with reverts("job not settled"):
        aw.tx(f.give_feedback(open_jid, 50, []), aw.client)
    aw.submit(open_jid)
    with reverts("job not settled"):  # submitted, not accepted
        aw.tx(f.give_feedback(open_jid, 50, []), aw.client)
    with reverts("unknown job"):
        aw.tx(f.give_feedback(999, 50, []), aw.client)
    jid = aw.settled_job()
    # only the counterparty
    with reverts("not counterparty"):
        aw.tx(f.give_feedback(jid, 100, []), aw.other)
    with reverts("score over 100"):
        aw.tx(f.give_feedback(jid, 101, []), aw.client)
    aw.tx(f.give_feedback(jid, 100, []), aw.client)
    # once per job
    with reverts("already rated"):
        aw.tx(f.give_feedback(jid, 0, []), aw.client)
    assert rep.summary(aw.node.address) == Summary(1, 100)


def test_no_self_rating(aw) -> None:
    """A node that opens a job with itself as the client cannot rate itself."""
    aw.mint(aw.node.address, 50 * ONE)
    jid = aw.settled_job(client=aw.node)
    with reverts("self rating"):
        aw.tx(aw.reputation.contract.functions.give_feedback(jid, 100, []), aw.node)


def test_no_rating_for_unpaid_job(aw) -> None:
    m = aw.models.contract.functions
    aw.net.transact(m.set_price(aw.model_id, 0), sender=aw.author)
    jid = aw.settled_job()
    with reverts("unpaid job"):
        aw.tx(aw.reputation.contract.functions.give_feedback(jid, 100, []), aw.client)


def test_score_and_ranking(aw) -> None:
    rep = aw.reputation
    node2 = aw.net.new_accounts(1)[0]
    aw.add_node(node2)
    # node: one 100; node2: three 95s -> node2 ranks first (smoothed)
    aw.tx(rep.feedback_call(aw.settled_job(), 100), aw.client)
    for _ in range(3):
        aw.tx(rep.feedback_call(aw.settled_job(node=node2), 95), aw.client)
    assert rep.summary(node2.address).average == 95
    s1 = reputation_score(aw.net, rep.address, aw.node.address)
    s2 = rep.reputation_score(node2.address)
    assert s2 > s1 > 50
    assert rep.reputation_score(aw.other.address) == 50  # no feedback: neutral prior
    assert [a for a, _ in rep.rank([aw.node.address, node2.address, aw.other.address])] == [
        node2.address,
        aw.node.address,
        aw.other.address,
    ]


def test_tags() -> None:
    assert untag(tag("fast")) == "fast" and len(tag("fast")) == 32
    for bad in ("", "x" * 33):
        try:
            tag(bad)
        except AgentError:
            continue
        raise AssertionError(bad)


def test_a_self_dealing_ring_cannot_outrank_an_honest_node(aw) -> None:
    """Issue #12: a ring that owns a model with a 100% royalty and a 1-wei price, runs its own node and rates
    it through its own client addresses pays itself (gas only). Ratings now weigh what the rater paid, one
    current opinion per counterparty, so 20 such ratings of 100 do not lift the ring above an honest node
    rated 90 by three clients who paid the real price."""
    rep = aw.reputation
    # the honest node: three real clients, one paid job each, rated 90
    for client in aw.net.new_accounts(3):
        aw.mint(client.address, PRICE)
        aw.tx(rep.feedback_call(aw.settled_job(client=client), 90), client)
    # the ring: its own model (100% royalty, 1 wei), its own node, its own clients
    ring_author, ring_node, *ring_clients = aw.net.new_accounts(7)
    rcpt = aw.models.register_model("ring", 1, 10_000, h("ring-onnx"), [], [], h("ring"), sender=ring_author)
    ring_model = aw.models.registered_model_id(rcpt)
    aw.models.set_fhe_commitment(ring_model, h("client"), h("server"), sender=ring_author)
    aw.nodes.register("http://ring.test", b"\x02" + h(ring_node.address), [ring_model], sender=ring_node)
    aw.mint(ring_node.address, MIN_STAKE)
    aw.token.approve(aw.nodes.address, MIN_STAKE, sender=ring_node)
    aw.nodes.stake(MIN_STAKE, sender=ring_node)
    for c in ring_clients:
        aw.mint(c.address, 4)  # 20 jobs at 1 wei over 5 clients
    for i in range(20):
        client = ring_clients[i % len(ring_clients)]
        aw.token.approve(aw.market.address, 1, sender=client)
        aw.market.open_job(
            ring_model,
            ring_node.address,
            h(f"ring-{i}"),
            MODE_FHE,
            aw.net.now() + 3000,
            max_price=1,
            eval_keys_hash=h("keys"),
            sender=client,
        )
        jid = aw.market.job_count()
        aw.submit(jid, ring_node)
        aw.market.accept(jid, sender=client)
        aw.tx(rep.feedback_call(jid, 100), client)
    assert rep.summary(ring_node.address).count == 20  # every rating is recorded...
    honest, ring = rep.reputation_score(aw.node.address), rep.reputation_score(ring_node.address)
    assert ring < honest, f"ring {ring:.1f} >= honest {honest:.1f}"  # ...but weighs what was paid
    assert ring < 50.001  # 20 wei of ratings do not move the neutral prior
    w = rep.weighted(ring_node.address)
    assert w.raters == len(ring_clients) and w.weight == 20
    assert rep.weighted(aw.node.address).raters == 3


def test_a_counterparty_has_one_current_opinion_weighted_by_what_it_paid(aw) -> None:
    rep = aw.reputation
    aw.tx(rep.feedback_call(aw.settled_job(), 100), aw.client)
    aw.tx(rep.feedback_call(aw.settled_job(), 20), aw.client)  # the same client changed its mind
    w = rep.weighted(aw.node.address)
    assert (w.weight, w.weighted_total, w.raters) == (2 * PRICE, 2 * PRICE * 20, 1)
    assert rep.summary(aw.node.address) == Summary(2, 120)  # the plain count and sum are kept
