"""An agent buys inference through its wallet: ``Client(payer=AgentPayer(agent))``.

Fast tests (embedded chain, node simulated by its account) cover the Payer protocol, policy errors
before any transaction, and node selection by reputation. The slow tests run a live network — an
embedded chain served over JSON-RPC, a Concrete ML model compiled to FHE, a node as its own OS
process — and check the whole flow: a real private prediction paid and accepted by the wallet, the
node paid (escrow and a stealth tip it finds and spends), feedback recorded, the caps respected, and
a request signed by any key other than the wallet's agent key refused by the node (ERC-1271 says no).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from agents_support import ONE, PRICE, SETTLED, h, reverts
from eth_account import Account
from eth_account.signers.local import LocalAccount

from veilproof.agents import (
    Agent,
    AgentError,
    AgentPayer,
    AgentRegistryClient,
    AgentWalletClient,
    AnnouncerClient,
    Identity,
    OverDailyCap,
    OverPaymentCap,
    RegistrationDoc,
    ReputationClient,
    StealthKeys,
    StealthRegistryClient,
    TargetNotAllowed,
    WalletPolicy,
    deploy_agents,
)
from veilproof.chain.deploy import Deployment, SuiteParams
from veilproof.chain.erc1271 import sign_as_wallet
from veilproof.chain.suite import Suite
from veilproof.chain.views import MODE_FHE, read_job
from veilproof.client import Client
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.protocol import RequestSig, sign_request
from veilproof.protocol.fhe_payload import fhe_keys_signed_payload, fhe_signed_payload
from veilproof.protocol.signing import eip191_hash

PER_PAYMENT = 15 * ONE
DAILY = 100 * ONE
FUND = 100 * ONE
TIP = 3 * ONE
ROYALTY_BPS = 2_000


def _nonces(net: Any, *accts: LocalAccount) -> list[int]:
    return [net.w3.eth.get_transaction_count(a.address) for a in accts]


# --- fast: Payer protocol and node selection, on the agents test chain ---------------------------
def _suite(aw: Any) -> Suite:
    """A client-side Suite over the agents test world's contracts."""
    d = Deployment(
        aw.net.chain_id,
        aw.token.address,
        aw.models.address,
        aw.nodes.address,
        aw.market.address,
        aw.owner.address,
    )
    return Suite(aw.net, d, aw.token, aw.models, aw.nodes, aw.market)


def _agent(aw: Any, per_payment: int = PER_PAYMENT, daily: int = DAILY) -> tuple[Agent, LocalAccount]:
    key, owner = aw.net.new_accounts(2)
    aw.mint(owner.address, FUND)
    policy = WalletPolicy(per_payment, daily, (aw.market.address, aw.reputation.address))
    wallet = AgentWalletClient.deploy(
        aw.net, owner, key.address, aw.token.address, policy, aw.announcer.address, fund=FUND
    )
    aid = aw.registry.register(owner, "https://agent.test/a.json", RegistrationDoc(name="a"))
    aw.registry.bind_wallet(owner, aid, wallet.address, key)
    agent = Agent(Identity(aw.registry, aid), wallet, key, aw.market, aw.reputation, aw.stealth_registry)
    return agent, owner


def test_agent_payer_opens_and_accepts_through_the_wallet(aw) -> None:  # type: ignore[no-untyped-def]
    agent, _ = _agent(aw)
    payer = AgentPayer(agent)
    assert payer.address == agent.wallet.address
    job_id, tx = payer.open_job(
        aw.model_id, aw.node.address, h("ct"), MODE_FHE, aw.net.now() + 3000, PRICE, h("keys")
    )
    assert tx.startswith("0x") and aw.job_status(job_id) == 1
    assert read_job(_suite(aw), job_id).client.lower() == agent.wallet.address.lower()
    aw.submit(job_id)
    payer.call(aw.market.accept_call(job_id))
    assert aw.job_status(job_id) == SETTLED
    assert agent.state().spent_today == PRICE
    assert [c.label for c in payer.calls] == ["pay_job", "execute(accept)"]
    for c in payer.calls:
        aw.note_gas(f"AgentPayer.{c.label}", c.gas_used)


def test_agent_payer_policy_errors_come_before_any_transaction(aw) -> None:  # type: ignore[no-untyped-def]
    agent, owner = _agent(aw, per_payment=PRICE - 1)
    payer = AgentPayer(agent)
    before = (_nonces(aw.net, agent.key, owner), aw.market.job_count())
    with pytest.raises(OverPaymentCap):
        payer.open_job(aw.model_id, aw.node.address, h("a"), MODE_FHE, aw.net.now() + 3000, PRICE, h("keys"))
    with pytest.raises(AgentError):  # only JobMarket calls go through the payer
        payer.call(aw.reputation.contract.functions.give_feedback(1, 50, []))
    agent.wallet.set_target(owner, aw.market.address, False)
    before = (_nonces(aw.net, agent.key, owner), before[1])
    with pytest.raises(TargetNotAllowed):
        payer.call(aw.market.withdraw_call())
    assert before == (_nonces(aw.net, agent.key, owner), aw.market.job_count())
    # Sent anyway, the contract refuses with the same reason.
    agent.wallet.set_target(owner, aw.market.address, True)
    with reverts("over payment cap"):
        AgentPayer(agent, precheck=False).open_job(
            aw.model_id, aw.node.address, h("b"), MODE_FHE, aw.net.now() + 3000, PRICE, h("keys")
        )


def test_client_picks_the_better_rated_node_first(aw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (second,) = aw.net.new_accounts(1)
    aw.add_node(second)
    good, bad = sorted([aw.node, second], key=lambda a: a.address.lower(), reverse=True)
    # Without reputation, ties go to the lower address (bad); give bad more stake too, so only the
    # ratings can put good first.
    aw.mint(bad.address, 50 * ONE)
    aw.token.approve(aw.nodes.address, 50 * ONE, sender=bad)
    aw.nodes.stake(50 * ONE, sender=bad)
    suite = _suite(aw)
    plain = Client(suite, aw.client, tmp_path / "plain")
    assert [o.address for o in plain.nodes(aw.model_id)] == [bad.address, good.address]

    aw.reputation.give_feedback(aw.client, aw.settled_job(node=good), 95)
    aw.reputation.give_feedback(aw.client, aw.settled_job(node=bad), 30)
    rated = Client(suite, aw.client, tmp_path / "rated", reputation=aw.reputation.reputation_score)
    offers = rated.nodes(aw.model_id)
    assert [o.address for o in offers] == [good.address, bad.address]
    assert offers[0].reputation > offers[1].reputation
    assert offers[0].reputation == pytest.approx(aw.reputation.summary(good.address).score())
    plain.close()
    rated.close()


# --- slow: a live network with a real FHE node process ------------------------------------------
@dataclass
class LiveAgentWorld:
    lnet: LocalNetwork
    model_id: int
    node: NodeProcess
    node_keys: StealthKeys
    agent: Agent
    owner: LocalAccount  # the agent's owner (funds the wallet, sets policy)
    payer: AgentPayer
    client: Client
    reputation: ReputationClient
    announcer: AnnouncerClient
    bundle: Any  # veilproof.fhe.FheBundle
    model: Any  # veilproof.models.fhe_examples.CompiledModel
    data: Any  # veilproof.models.datasets.Dataset

    def veil(self, addr: str) -> int:
        return self.lnet.suite.token.balance_of(addr)

    def pending(self, addr: str) -> int:
        return self.lnet.suite.market.pending(addr)


def make_live_agent_world(root: Path) -> LiveAgentWorld:
    """Chain + suite + agents contracts, an FHE logreg model, a node process, a capped agent."""
    from veilproof.artifacts import ArtifactStore
    from veilproof.client.publish import publish_model
    from veilproof.models.fhe_examples import build_bundle_with_model, load_dataset
    from veilproof.node.config import ServedModel

    store = ArtifactStore(root / "store")
    data = load_dataset()
    bundle, model = build_bundle_with_model("logreg", store, data)
    lnet = LocalNetwork.start(
        root / "net", None, params=SuiteParams.dev(max_deadline=3600, challenge_window=60)
    )
    net, suite = lnet.net, lnet.suite
    addrs = deploy_agents(net, lnet.owner, suite.deployment)
    suite.deployment.save(lnet.deployment_file)
    registry = AgentRegistryClient(net, addrs["agent_registry"])
    reputation = ReputationClient(net, addrs["reputation"])
    stealth_reg = StealthRegistryClient(net, addrs["stealth_registry"])
    announcer = AnnouncerClient(net, addrs["stealth_announcer"])
    pub = publish_model(
        suite, lnet.owner, name="logreg-fhe", price=PRICE, royalty_bps=ROYALTY_BPS,
        onnx_hash=bundle.server_zip_hash, fhe_client_hash=bundle.client_zip_hash,
        fhe_server_hash=bundle.server_zip_hash,
    )  # fmt: skip
    served = ServedModel(pub.model_id, fhe_server=bundle.server_zip_hash, fhe_client=bundle.client_zip_hash)
    node = lnet.start_node("fhe-node", [served], artifacts_dir=store.root, stake_veil=100)
    node_keys = StealthKeys.generate()
    stealth_reg.register_keys(node.account, node_keys.meta_address)

    owner = lnet.new_funded(FUND // ONE)
    (key,) = net.new_accounts(1)
    policy = WalletPolicy(PER_PAYMENT, DAILY, (suite.market.address, reputation.address))
    wallet = AgentWalletClient.deploy(
        net, owner, key.address, suite.token.address, policy, announcer.address, fund=FUND
    )
    aid = registry.register(owner, "https://agent.test/health.json", RegistrationDoc(name="health"))
    registry.bind_wallet(owner, aid, wallet.address, key)
    agent = Agent(Identity(registry, aid), wallet, key, suite.market, reputation, stealth_reg)
    payer = AgentPayer(agent)
    client = Client(
        suite, key, root / "agent", payer=payer, reputation=reputation.reputation_score,
        poll_interval=0.2, deadline_s=1800,
    )  # fmt: skip
    return LiveAgentWorld(
        lnet, pub.model_id, node, node_keys, agent, owner, payer, client, reputation, announcer,
        bundle, model, data,
    )  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAgentWorld]:
    w = make_live_agent_world(tmp_path_factory.mktemp("agent-live"))
    try:
        yield w
    finally:
        w.client.close()
        w.lnet.stop()


@pytest.mark.slow
def test_agent_buys_a_private_prediction_pays_privately_and_rates(live: LiveAgentWorld) -> None:
    w, net, suite = live, live.lnet.net, live.lnet.suite
    wallet, node = w.agent.wallet, w.node.account.address
    st0 = w.agent.state()
    pending0, node_veil0 = w.pending(node), w.veil(node)
    x = w.data.x_test[3]

    res = w.client.infer(w.model_id, x, private=True)
    job = read_job(suite, res.job_id)
    assert job.status == SETTLED and res.status == "settled"
    assert job.client.lower() == wallet.address.lower()
    assert job.node.lower() == node.lower() and job.price == PRICE
    clear = w.model.predict_proba(x.reshape(1, -1), "disable").ravel()
    assert np.allclose(res.output, clear, atol=1e-6)  # really decrypted, equals the clear model
    assert w.pending(node) - pending0 == PRICE - PRICE * ROYALTY_BPS // 10_000

    # Tip through a stealth address: the node finds exactly its payment and spends it.
    start = net.w3.eth.block_number + 1
    tip = w.agent.pay_stealth(node, TIP)
    found = w.announcer.scan(w.node_keys, from_block=start)
    assert [f.address for f in found] == [tip.stealth.address]
    assert w.announcer.scan(StealthKeys.generate(), from_block=start) == []
    one_time = found[0].account()
    net.fund(one_time.address, 10**18)
    suite.token.transfer(node, TIP, sender=one_time)
    suite.market.withdraw(sender=w.node.account)
    assert w.veil(node) - node_veil0 == TIP + PRICE - PRICE * ROYALTY_BPS // 10_000
    assert w.veil(one_time.address) == 0

    # Within caps: every payment under the per-payment cap, the day's total under the daily cap.
    st1 = w.agent.state()
    assert st0.balance - st1.balance == PRICE + TIP
    assert st1.spent_today - st0.spent_today == PRICE + TIP <= st1.daily_cap
    assert max(PRICE, TIP) <= st1.per_payment_cap

    # Feedback after settlement, from the wallet, backed by the job's FHE evidence.
    w.agent.give_feedback(res.job_id, 90, ["private"])
    s = w.reputation.summary(node)
    assert (s.count, s.average) == (1, 90)
    (fb,) = w.reputation.history(node)
    assert fb.rater.lower() == wallet.address.lower() and fb.job_id == res.job_id
    v = w.reputation.validation(res.job_id)
    assert v is not None and v.mode == MODE_FHE
    assert v.output_hash.hex() == job.output_ct_hash.removeprefix("0x")
    with reverts():  # once per job
        w.agent.give_feedback(res.job_id, 10)


@pytest.mark.slow
def test_over_the_daily_cap_the_client_refuses_before_any_transaction(live: LiveAgentWorld) -> None:
    w, net = live, live.lnet.net
    st = w.agent.state()
    w.agent.wallet.set_policy(w.owner, PER_PAYMENT, st.spent_today + PRICE - 1)
    try:
        nonce, jobs = _nonces(net, w.agent.key), w.lnet.suite.market.job_count()
        with pytest.raises(OverDailyCap):
            w.client.infer(w.model_id, w.data.x_test[5], private=True)
        assert _nonces(net, w.agent.key) == nonce
        assert w.lnet.suite.market.job_count() == jobs
        assert w.agent.state().balance == st.balance
    finally:
        w.agent.wallet.set_policy(w.owner, PER_PAYMENT, DAILY)


def _post_fhe(
    w: LiveAgentWorld, job_id: int, ct: bytes, ek_hash: str, signer: LocalAccount, wallet: str | None = None
) -> httpx.Response:
    """POST the job signed by ``signer``: a plain request signature, or (``wallet``) one bound to that
    wallet as its ERC-1271 agent key signs (ERC-7739)."""
    ctx = RequestSig(w.lnet.net.chain_id, w.lnet.suite.market.address, w.node.account.address, job_id)
    body = fhe_signed_payload(hashlib.sha256(ct).hexdigest(), ek_hash)
    if wallet is None:
        sig = sign_request(signer, ctx, body)
    else:
        sig = "0x" + sign_as_wallet(signer, wallet, ctx.chain_id, eip191_hash(ctx.digest(body))).hex()
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Veil-Eval-Keys": ek_hash,
        "X-Veil-Signature": sig,
    }
    return httpx.post(f"{w.node.endpoint}/fhe/jobs/{job_id}", content=ct, headers=headers, timeout=60)


@pytest.mark.slow
def test_node_takes_only_the_wallets_agent_key(live: LiveAgentWorld, tmp_path: Path) -> None:
    """A well-formed job (real keys, real ciphertext) is refused unless the agent key signed it."""
    from veilproof.fhe import FheClient

    w = live
    fc = FheClient(w.bundle.client_zip_path, tmp_path / "keys", expected_client_hash=w.bundle.client_zip_hash)
    keys = fc.evaluation_keys()
    ek_hash = hashlib.sha256(keys).hexdigest()
    x = w.data.x_test[9]
    ct = fc.encrypt(x.reshape(1, -1).astype(np.float32))
    job_id, _ = w.payer.open_job(
        w.model_id, w.node.account.address, hashlib.sha256(ct).digest(), MODE_FHE,
        w.lnet.net.now() + 1800, PRICE, bytes.fromhex(ek_hash),
    )  # fmt: skip
    # Keys are uploaded for the open job, signed like the job's requests (by the wallet's agent key).
    ctx = RequestSig(w.lnet.net.chain_id, w.lnet.suite.market.address, w.node.account.address, job_id)
    up = httpx.put(
        f"{w.node.endpoint}/fhe/keys",
        content=keys,
        headers={
            "Content-Type": "application/octet-stream",
            "X-Veil-Job": str(job_id),
            "X-Veil-Eval-Keys": ek_hash,
            "X-Veil-Signature": "0x"
            + sign_as_wallet(
                w.agent.key,
                w.agent.wallet.address,
                ctx.chain_id,
                eip191_hash(ctx.digest(fhe_keys_signed_payload(ek_hash))),
            ).hex(),
        },
        timeout=120,
    )
    assert up.status_code < 300, up.text

    wallet = w.agent.wallet.address
    for stranger in (Account.create(), w.owner, w.node.account):  # not the agent key, incl. the owner
        for as_wallet in (None, wallet):
            r = _post_fhe(w, job_id, ct, ek_hash, stranger, as_wallet)
            assert r.status_code == 401, (r.status_code, r.text)
            assert "not from the job's client" in r.text
    # the agent key itself, but not bound to this wallet: a bare request signature, or one made for
    # another wallet of the same key (ERC-7739: the wallet refuses both)
    other_wallet = AgentWalletClient.deploy(
        w.lnet.net, w.owner, w.agent.key.address, w.lnet.suite.token.address, WalletPolicy(1, 1)
    )
    for as_wallet in (None, other_wallet.address):
        r = _post_fhe(w, job_id, ct, ek_hash, w.agent.key, as_wallet)
        assert r.status_code == 401, (r.status_code, r.text)

    r = _post_fhe(w, job_id, ct, ek_hash, w.agent.key, wallet)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 120
    while (st := httpx.get(f"{w.node.endpoint}/jobs/{job_id}", timeout=10).json())["state"] != "submitted":
        assert st["state"] not in ("failed", "abandoned") and time.monotonic() < deadline, st
        time.sleep(0.2)
    out = httpx.get(f"{w.node.endpoint}/fhe/jobs/{job_id}/output", timeout=30).content
    assert np.allclose(
        np.ravel(fc.decrypt(out)), w.model.predict_proba(x.reshape(1, -1), "disable").ravel(), atol=1e-6
    )
    w.payer.call(w.lnet.suite.market.accept_call(job_id))
    assert read_job(w.lnet.suite, job_id).status == SETTLED
