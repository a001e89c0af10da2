"""AgentWallet: the agent key spends only within the owner's policy — typed errors in Python before
any transaction, and the same reasons as reverts when a transaction is sent anyway."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from agents_support import MODE_FHE, ONE, PRICE, SETTLED, h, reverts

from veilproof.agents import (
    Agent,
    AgentWalletClient,
    Identity,
    InsufficientFunds,
    NotAgentKey,
    OverDailyCap,
    OverPaymentCap,
    PolicyViolation,
    RegistrationDoc,
    StealthKeys,
    TargetNotAllowed,
    WalletPaused,
    WalletPolicy,
    scan_with_keys,
)

PER_PAYMENT = 15 * ONE
DAILY = 25 * ONE
FUND = 100 * ONE


@contextmanager
def breach(aw, kind: type[PolicyViolation]):
    """Expect ``kind`` before any transaction: the sender's nonce must not move."""
    nonces = {a.address: aw.net.w3.eth.get_transaction_count(a.address) for a in aw.actors}
    with pytest.raises(kind):
        yield
    assert nonces == {a.address: aw.net.w3.eth.get_transaction_count(a.address) for a in aw.actors}


@pytest.fixture
def agent(aw) -> Agent:
    key, owner = aw.net.new_accounts(2)
    aw.mint(owner.address, FUND)
    policy = WalletPolicy(PER_PAYMENT, DAILY, (aw.market.address, aw.reputation.address))
    wallet = AgentWalletClient.deploy(
        aw.net, owner, key.address, aw.token.address, policy, announcer=aw.announcer.address, fund=FUND
    )
    aid = aw.registry.register(owner, "https://agent.test/a.json", RegistrationDoc(name="a"))
    aw.registry.bind_wallet(owner, aid, wallet.address, key)
    aw.actors = [key, owner]
    aw.agent_owner = owner
    return Agent(
        Identity(aw.registry, aid),
        wallet,
        key,
        aw.market,
        reputation=aw.reputation,
        stealth_registry=aw.stealth_registry,
    )


KEYS = h("keys")  # the evaluation-key hash an FHE job commits


def _job_args(aw, tag: str = "in") -> tuple:
    return (aw.model_id, aw.node.address, h(tag), MODE_FHE, aw.net.now() + 3000)


def test_pay_job_settle_and_feedback_from_wallet(aw, agent: Agent) -> None:
    st = agent.state()
    assert (st.balance, st.per_payment_cap, st.daily_cap, st.spent_today) == (FUND, PER_PAYMENT, DAILY, 0)
    assert agent.identity.record().wallet == agent.address
    jid = agent.pay_job(*_job_args(aw), eval_keys_hash=KEYS)
    job = aw.call(aw.market.contract.functions.job(jid))
    assert job[0] == agent.address  # the wallet is the job's client
    assert agent.state().spent_today == PRICE and agent.state().balance == FUND - PRICE
    aw.submit(jid)
    rcpt = agent.accept(jid)
    aw.note_gas("AgentWallet.execute(accept)", rcpt.gas_used)
    assert aw.job_status(jid) == SETTLED
    rcpt = agent.give_feedback(jid, 88, ["private"])
    aw.note_gas("AgentWallet.execute(give_feedback)", rcpt.gas_used)
    fb = aw.reputation.feedback(1)
    assert (fb.rater, fb.subject, fb.score) == (agent.address, aw.node.address, 88)
    # the node rates the agent: reputation accrues to the wallet the registry binds to the agent
    aw.reputation.give_feedback(aw.node, jid, 97)
    assert aw.reputation.summary(agent.address).count == 1
    assert aw.registry.agent_of_wallet(agent.address) == agent.identity.agent_id
    with pytest.raises(Exception, match="already rated"):
        agent.give_feedback(jid, 10)


def test_caps_precheck_and_revert(aw, agent: Agent) -> None:
    w = agent.wallet
    args = _job_args(aw)
    agent.pay_job(*args, eval_keys_hash=KEYS)
    rcpt = aw.net.transact(
        w.contract.functions.pay_job(aw.market.address, *_job_args(aw, "b"), KEYS, PRICE), sender=agent.key
    )
    aw.note_gas("AgentWallet.pay_job", rcpt.gas_used)
    assert agent.state().spent_today == 2 * PRICE
    # daily cap: 20 spent, 10 more would be 30 > 25
    with breach(aw, OverDailyCap) as _:
        agent.pay_job(*_job_args(aw, "c"), eval_keys_hash=KEYS)
    with reverts("over daily cap"):
        w.pay_job(agent.key, aw.market, *_job_args(aw, "c"), precheck=False, eval_keys_hash=KEYS)
    with breach(aw, OverDailyCap):
        w.pay(agent.key, aw.other.address, 6 * ONE)
    with reverts(OverDailyCap.reason):
        w.pay(agent.key, aw.other.address, 6 * ONE, precheck=False)
    w.pay(agent.key, aw.other.address, 5 * ONE)  # exactly up to the cap
    assert agent.state().remaining_today == 0
    # a new day index resets the daily cap
    aw.net.time_travel(86400)
    assert agent.state().spent_today == 0
    agent.pay_job(*_job_args(aw, "d"), eval_keys_hash=KEYS)
    # per-payment cap
    with breach(aw, OverPaymentCap):
        w.pay(agent.key, aw.other.address, PER_PAYMENT + 1)
    with reverts("over payment cap"):
        w.pay(agent.key, aw.other.address, PER_PAYMENT + 1, precheck=False)
    # the owner raises the caps; a job over the old per-payment cap now passes
    w.set_policy(aw.agent_owner, 50 * ONE, 100 * ONE)
    rcpt = w.pay(agent.key, aw.other.address, 20 * ONE)
    aw.note_gas("AgentWallet.pay", rcpt.gas_used)
    # more than the wallet holds
    with breach(aw, InsufficientFunds):
        w.pay(agent.key, aw.other.address, 49 * ONE)
    with reverts("insufficient balance"):
        w.pay(agent.key, aw.other.address, 49 * ONE, precheck=False)


def test_allowed_targets(aw, agent: Agent) -> None:
    w = agent.wallet
    owner = aw.agent_owner
    # a contract not on the list
    with breach(aw, TargetNotAllowed):
        w.execute(agent.key, aw.nodes.contract.functions.withdraw_unbonded())
    with reverts("target not allowed"):
        w.execute(agent.key, aw.nodes.contract.functions.withdraw_unbonded(), precheck=False)
    # the market taken off the list: no more jobs
    w.set_target(owner, aw.market.address, False)
    with breach(aw, TargetNotAllowed):
        agent.pay_job(*_job_args(aw), eval_keys_hash=KEYS)
    with reverts("target not allowed"):
        w.pay_job(agent.key, aw.market, *_job_args(aw), precheck=False, eval_keys_hash=KEYS)
    # the token is never a valid execute target, even if the owner lists it
    w.set_target(owner, aw.token.address, True)
    approve = aw.token.contract.functions.approve(aw.other.address, 10**30)
    with breach(aw, TargetNotAllowed):
        w.execute(agent.key, approve)
    with reverts("target not allowed"):
        w.execute(agent.key, approve, precheck=False)


def test_pause_agent_key_and_owner_powers(aw, agent: Agent) -> None:
    w = agent.wallet
    owner = aw.agent_owner
    with reverts("not owner"):
        aw.net.transact(w.contract.functions.pause(), sender=agent.key)
    w.pause(owner)
    with breach(aw, WalletPaused):
        agent.pay_job(*_job_args(aw), eval_keys_hash=KEYS)
    with reverts("wallet paused"):
        w.pay_job(agent.key, aw.market, *_job_args(aw), precheck=False, eval_keys_hash=KEYS)
    with breach(aw, WalletPaused):
        w.pay(agent.key, aw.other.address, ONE)
    assert not agent.can_spend(ONE)
    w.unpause(owner)
    assert agent.can_spend(ONE)
    # someone else's key
    with breach(aw, NotAgentKey):
        w.pay(aw.other, aw.other.address, ONE)
    with reverts("not agent"):
        w.pay(aw.other, aw.other.address, ONE, precheck=False)
    for fn in (
        w.contract.functions.set_policy(10**30, 10**30),
        w.contract.functions.set_target(aw.other.address, True),
        w.contract.functions.set_agent(aw.other.address),
        w.contract.functions.withdraw(aw.token.address, 0),
    ):
        with reverts("not owner"):
            aw.net.transact(fn, sender=agent.key)
    # the owner withdraws everything (no policy applies to the owner)
    rcpt = w.withdraw(owner)
    assert aw.bal(owner.address) == FUND and aw.bal(w.address) == 0
    aw.note_gas("AgentWallet.withdraw", rcpt.gas_used)
    with reverts("nothing to withdraw"):
        w.withdraw(owner)


def test_refund_comes_back_to_wallet(aw, agent: Agent) -> None:
    jid = agent.pay_job(
        aw.model_id, aw.node.address, h("late"), MODE_FHE, aw.net.now() + 100, eval_keys_hash=KEYS
    )
    aw.net.time_travel(200)
    agent.refund(jid)
    agent.collect_refunds()
    st = agent.state()
    # escrow returned to the wallet (plus the challenger share of the node's slash), not to the key
    assert st.balance >= FUND
    assert aw.bal(agent.key.address) == 0


def test_stealth_payment_from_wallet(aw, agent: Agent) -> None:
    node_keys = StealthKeys.generate()
    aw.stealth_registry.register_keys(aw.node, node_keys.meta_address)
    start = aw.net.w3.eth.block_number
    p = agent.pay_stealth(aw.node.address, 5 * ONE)
    (found,) = aw.announcer.scan(node_keys, from_block=start)
    assert found.address == p.stealth.address
    assert found.announcement.caller == agent.address
    assert found.announcement.payment() == (aw.token.address, 5 * ONE)
    assert aw.bal(found.address) == 5 * ONE
    assert agent.state().spent_today == 5 * ONE
    assert scan_with_keys(aw.announcer.announcements(start), StealthKeys.generate()) == []
    # caps apply to stealth payments too
    with breach(aw, OverPaymentCap):
        agent.pay_stealth(node_keys.meta_address, PER_PAYMENT + 1)
    with reverts("over payment cap"):
        agent.wallet.pay_stealth(agent.key, node_keys.meta_address, PER_PAYMENT + 1, precheck=False)
    rcpt = aw.net.transact(
        agent.wallet.contract.functions.pay_stealth(
            p.stealth.address, ONE, p.stealth.ephemeral_pubkey, p.stealth.metadata(aw.token.address, ONE)
        ),
        sender=agent.key,
    )
    aw.note_gas("AgentWallet.pay_stealth", rcpt.gas_used)
