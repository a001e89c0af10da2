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


def _job_args(aw, tag: str = "in") -> tuple:
    return (aw.model_id, aw.node.address, h(tag), MODE_FHE, aw.net.now() + 3000)


def test_pay_job_settle_and_feedback_from_wallet(aw, agent: Agent) -> None:
    st = agent.state()
    assert (st.balance, st.per_payment_cap, st.daily_cap, st.spent_today) == (FUND, PER_PAYMENT, DAILY, 0)
    assert agent.identity.record().wallet == agent.address
    jid = agent.pay_job(*_job_args(aw))
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
    agent.pay_job(*args)
    rcpt = aw.net.transact(
        w.contract.functions.pay_job(aw.market.address, *_job_args(aw, "b"), PRICE), sender=agent.key
    )
    aw.note_gas("AgentWallet.pay_job", rcpt.gas_used)
    assert agent.state().spent_today == 2 * PRICE
    # daily cap: 20 spent, 10 more would be 30 > 25
    with breach(aw, OverDailyCap) as _:
        agent.pay_job(*_job_args(aw, "c"))
    with reverts("over daily cap"):
        w.pay_job(agent.key, aw.market, *_job_args(aw, "c"), precheck=False)
    with breach(aw, OverDailyCap):
        w.pay(agent.key, aw.other.address, 6 * ONE)
    with reverts(OverDailyCap.reason):
        w.pay(agent.key, aw.other.address, 6 * ONE, precheck=False)
    w.pay(agent.key, aw.other.address, 5 * ONE)  # exactly up to the cap
    assert agent.state().remaining_today == 0
    # a new day index resets the daily cap
    aw.net.time_travel(86400)
    assert agent.state().spent_today == 0
    agent.pay_job(*_job_args(aw, "d"))
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
        agent.pay_job(*_job_args(aw))
    with reverts("target not allowed"):
        w.pay_job(agent.key, aw.market, *_job_args(aw), precheck=False)
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
        agent.pay_job(*_job_args(aw))
    with reverts("wallet paused"):
        w.pay_job(agent.key, aw.market, *_job_args(aw), precheck=False)
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
    jid = agent.pay_job(aw.model_id, aw.node.address, h("late"), MODE_FHE, aw.net.now() + 100)
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


# --- ERC-1271 replay across wallets of one agent key (issue #12, ERC-7739) -----------------------
def _two_wallets(aw):
    """One agent key controls two wallets (e.g. one per owner, or a fresh one after a policy change)."""
    key, owner_a, owner_b = aw.net.new_accounts(3)
    a, b = (
        AgentWalletClient.deploy(aw.net, o, key.address, aw.token.address, WalletPolicy(ONE, ONE))
        for o in (owner_a, owner_b)
    )
    return key, a, b


def test_signature_for_one_wallet_is_refused_by_another(aw) -> None:
    """The attack: a signature the agent key made for wallet A is handed to wallet B.

    A hash alone names no account, so an ERC-1271 wallet that checks the raw hash vouches for
    every signature its key ever made for any wallet. The wallet rehashes under its own EIP-712
    domain (address + chain id): the signature for A is A's only."""
    from veilproof.chain.erc1271 import (
        WALLET_DOMAIN_NAME,
        WALLET_DOMAIN_VERSION,
        Erc1271,
        sign_as_wallet,
        wallet_domain_separator,
    )

    key, a, b = _two_wallets(aw)
    digest = h("a permit-like message that does not name the account")
    sig_a = sign_as_wallet(key, a.address, aw.net.chain_id, digest)
    assert Erc1271(aw.net, a.address).is_valid_signature(digest, sig_a)
    assert not Erc1271(aw.net, b.address).is_valid_signature(digest, sig_a)
    # and a bare signature of the hash (what the wallet accepted before) is refused by both
    bare = bytes(key.unsafe_sign_hash(digest).signature)
    assert not Erc1271(aw.net, a.address).is_valid_signature(digest, bare)
    assert not Erc1271(aw.net, b.address).is_valid_signature(digest, bare)
    # the same wallet address on another chain is another domain
    other_chain = sign_as_wallet(key, a.address, aw.net.chain_id + 1, digest)
    assert not Erc1271(aw.net, a.address).is_valid_signature(digest, other_chain)
    # ERC-5267: the domain the wallet announces is the one sign_as_wallet hashes
    fields, name, version, chain_id, verifying, salt, ext = aw.call(a.contract.functions.eip712Domain())
    assert (name, version, chain_id, verifying) == (
        WALLET_DOMAIN_NAME, WALLET_DOMAIN_VERSION, aw.net.chain_id, a.address,
    )  # fmt: skip
    assert fields == b"\x0f" and wallet_domain_separator(
        a.address, aw.net.chain_id
    ) != wallet_domain_separator(b.address, aw.net.chain_id)


def test_stealth_registration_for_wallet_a_cannot_be_replayed_for_wallet_b(aw) -> None:
    """On chain: ERC-6538 ``registerKeysOnBehalf`` signs (scheme, meta-address, nonce) but not the
    registrant. Anyone who saw wallet A's registration could set the same meta-address for wallet B
    (same key, same nonce 0) without the owner asking for it."""
    key, a, b = _two_wallets(aw)
    reg = aw.stealth_registry
    meta = StealthKeys.generate().meta_address
    sig = reg.sign_on_behalf(key, meta, registrant=a.address)
    reg.register_on_behalf(aw.client, a.address, meta, sig)
    assert reg.meta_address_of(a.address) == meta
    with reverts("bad signature"):
        reg.register_on_behalf(aw.other, b.address, meta, sig)
    assert reg.meta_address_of(b.address) is None
