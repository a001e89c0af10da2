"""The demo's agent step: an autonomous agent with a capped wallet buys a private prediction.

Why a step of its own: the rest of the demo buys inference from a plain account. This step shows the
same network serving an *agent* — an on-chain identity, capital held in an AgentWallet the owner
caps, and the agent key signing requests the node checks against the wallet (ERC-1271) — then a
private tip to the node through a stealth address, feedback backed by the settled job, and a spend
over the daily cap refused in Python before any transaction is sent.

It runs on a network that is already up (the demo's, or a test's): it only adds the agents
contracts (or reuses them if the deployment already records them) and new accounts. Nothing is
simulated: the FHE evaluation, the signatures and the payments are the real ones. The same flow,
narrated step by step on its own network, is ``examples/agent_health_check.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from eth_typing import HexStr

from veilproof.agents import (
    Agent,
    AgentPayer,
    AgentRegistryClient,
    AgentWalletClient,
    AnnouncerClient,
    Endpoint,
    Identity,
    OverDailyCap,
    RegistrationDoc,
    ReputationClient,
    StealthKeys,
    StealthRegistryClient,
    WalletPolicy,
    deploy_agents,
    scan,
)
from veilproof.agents.deploy import KEYS as AGENT_CONTRACTS
from veilproof.agents.errors import AgentError
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.job_market import JobStatus
from veilproof.client import Client
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.errors import InputError

FEEDBACK_SCORE = 95
# ETH for the one transaction the stealth key sends (the sweep): 1 ETH, because gas estimation must
# afford the block gas limit at the current fee (about 0.06 ETH here), not just the ~50k gas used.
# Given by the dev faucet here; a relayer or paymaster in production, since funding it from the
# node's own account would link the two on chain.
SWEEP_GAS_WEI = 10**18


@dataclass
class AgentStepReport:
    """What the agent step did, for the demo's report and the e2e test. Amounts in token wei."""

    agent_id: int
    wallet: str
    job_id: int
    job_status: str  # on chain, after the agent accepted: "settled"
    job_client_is_wallet: bool  # the job's client on chain is the wallet, not the agent key
    output: list[float]  # decrypted by the agent; the node never saw it
    price: int
    per_payment_cap: int
    daily_cap: int
    wallet_before: int
    wallet_after: int
    spent_today: int  # the wallet's own counter: job + tip
    tip: int
    tip_address: str  # the one-time stealth address
    tip_found: bool  # the node found it scanning with its viewing key only
    scan_ms: float
    tip_swept: bool  # the node moved it out with the key it derived
    node_earnings: int  # the job's pay left pending for the node in the market (not withdrawn here)
    feedback_score: int
    node_ratings: int
    node_rating_average: float | None
    refused_reason: str  # the PolicyViolation's reason, equal to the contract's revert string
    refused_detail: str
    refused_before_tx: bool  # agent key nonce and wallet balance unchanged by the refused job
    gas: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds

    @property
    def wallet_spent(self) -> int:
        return self.wallet_before - self.wallet_after

    def rows(self) -> list[tuple[str, str]]:
        """(label, text) rows for a report table."""

        def veil(a: int) -> str:
            return f"{a / ONE_VEIL:g} VEIL"

        def yes(flag: bool) -> str:
            return "yes" if flag else "NO"

        when = "before any transaction" if self.refused_before_tx else "AFTER a transaction"
        return [
            ("agent", f"#{self.agent_id}, wallet {self.wallet}"),
            (
                "job",
                f"{self.job_id} FHE, {self.job_status}, client = wallet: {yes(self.job_client_is_wallet)}",
            ),
            ("output (decrypted by the agent)", ", ".join(f"{v:.3f}" for v in self.output)),
            (
                "wallet",
                f"{veil(self.wallet_before)} → {veil(self.wallet_after)}: spent {veil(self.wallet_spent)} "
                f"(job {veil(self.price)} + tip {veil(self.tip)})",
            ),
            (
                "caps",
                f"{veil(self.per_payment_cap)}/payment, {veil(self.daily_cap)}/day; "
                f"spent today {veil(self.spent_today)}",
            ),
            (
                "stealth tip",
                f"{veil(self.tip)} to {self.tip_address[:10]}…; found by the node's scan: "
                f"{yes(self.tip_found)} ({self.scan_ms:.0f} ms); swept: {yes(self.tip_swept)}",
            ),
            (
                "feedback",
                f"score {self.feedback_score}; node has {self.node_ratings} rating(s), "
                f"average {self.node_rating_average or 0:g}",
            ),
            (
                "policy breach",
                f"2nd job: {self.refused_reason}, refused {when} ({veil(self.price)} on top of "
                f"{veil(self.spent_today)} spent today > {veil(self.daily_cap)})",
            ),
            ("gas per call", ", ".join(f"{k} {g:,}" for k, g in self.gas.items())),
            ("time", ", ".join(f"{k} {v:.2f}s" for k, v in self.timings.items())),
        ]


def _agent_contracts(lnet: LocalNetwork) -> dict[str, str]:
    """The agents contracts' addresses: deployed now, unless the deployment already records them.

    ``deploy_agents`` merges the addresses into ``Deployment.extra``; we also save the deployment
    file so later tools (CLI, nodes started afterwards) find them.
    """
    extra = lnet.suite.deployment.extra
    if all(k in extra for k in AGENT_CONTRACTS):
        return {k: extra[k] for k in AGENT_CONTRACTS}
    addrs = deploy_agents(lnet.net, lnet.owner, lnet.suite.deployment)
    lnet.suite.deployment.save(lnet.deployment_file)
    return addrs


def run_agent_step(
    lnet: LocalNetwork,
    model_id: int,
    x: np.ndarray,
    node: NodeProcess,
    say: Callable[[str], None],
) -> AgentStepReport:
    """An agent buys one private (FHE) prediction of ``model_id`` on ``x`` from ``node``, tips the
    node through a stealth address, rates it, and has an over-cap job refused.

    Caps are set from the model's price so they mean the same at any price: the job (P) and the tip
    (P/2) fit in a daily cap of 2P; a second job would make 2.5P and must be refused. The node's
    earnings from the job stay pending in the market (the caller's withdrawals see them); the tip is
    swept into the node's account. Raises if the inference fails or the policy lets the breach
    through; a tip the scan misses is reported (``tip_found=False``), not raised.
    """
    t_start = time.perf_counter()
    net, suite = lnet.net, lnet.suite
    timings: dict[str, float] = {}
    gas: dict[str, int] = {}
    price = suite.models.read_model(model_id).price
    if price <= 0:
        raise InputError("model_id", "a model with a price (the caps are set from it)", model_id)
    tip = price // 2
    per_payment_cap, daily_cap, fund = price + tip, 2 * price, 4 * price

    # contracts, node's stealth meta-address ----------------------------------------------------
    addrs = _agent_contracts(lnet)
    registry = AgentRegistryClient(net, addrs["agent_registry"])
    reputation = ReputationClient(net, addrs["reputation"])
    stealth_reg = StealthRegistryClient(net, addrs["stealth_registry"])
    announcer = AnnouncerClient(net, addrs["stealth_announcer"])
    # The operator's stealth keys: generated here (the node process has no stealth wallet); the node's
    # account publishes the meta-address, so a payer needs nothing but the node's address.
    node_keys = StealthKeys.generate()
    gas["register_keys (node)"] = stealth_reg.register_keys(node.account, node_keys.meta_address).gas_used

    # identity and capped wallet ----------------------------------------------------------------
    human = lnet.new_funded(-(-fund // ONE_VEIL))  # the owner: capital and the wallet's admin
    (agent_key,) = net.new_accounts(1)  # ETH for gas only; the capital is in the wallet
    doc = RegistrationDoc(
        name="demo-health-agent",
        description="Buys private risk predictions for its user",
        endpoints=(Endpoint("http", "https://agent.example/api"),),
        capabilities=("fhe-inference", "stealth-pay"),
        trust_models=("fhe", "stake"),
    )
    agent_id = registry.register(human, "https://agent.example/agent.json", doc)
    policy = WalletPolicy(per_payment_cap, daily_cap, (suite.market.address, reputation.address))
    wallet = AgentWalletClient.deploy(
        net, human, agent_key.address, suite.token.address, policy, announcer.address, fund=fund
    )
    gas["bind_wallet"] = registry.bind_wallet(human, agent_id, wallet.address, agent_key).gas_used
    agent = Agent(Identity(registry, agent_id), wallet, agent_key, suite.market, reputation, stealth_reg)
    st0 = agent.state()
    timings["setup"] = time.perf_counter() - t_start
    say(
        f"agent #{agent_id}: wallet {wallet.address[:10]}… holds {st0.balance / ONE_VEIL:g} VEIL, caps "
        f"{per_payment_cap / ONE_VEIL:g}/payment, {daily_cap / ONE_VEIL:g}/day; key bound by ERC-1271"
    )

    # private inference paid by the wallet ------------------------------------------------------
    payer = AgentPayer(agent)
    client = Client(
        suite, agent_key, lnet.root / "agent", payer=payer, reputation=reputation.reputation_score,
        poll_interval=0.2, deadline_s=600,
    )  # fmt: skip
    try:
        pending_before = suite.market.pending(node.account.address)
        t0 = time.perf_counter()
        res = client.infer(model_id, x, private=True, node=node.account.address, max_attempts=1, progress=say)
        timings["inference"] = time.perf_counter() - t0
        job = suite.market.read_job(res.job_id)
        if job.status != JobStatus.SETTLED:
            raise AgentError(f"job {res.job_id} is {job.status_name} after the agent accepted it")
        gas.update({c.label: c.gas_used for c in payer.calls})
        node_earnings = suite.market.pending(node.account.address) - pending_before

        # stealth tip: the node finds it with its viewing key, spends with the derived key ------
        start = net.w3.eth.block_number + 1
        sent = agent.pay_stealth(node.account.address, tip)
        gas["pay_stealth"] = int(net.w3.eth.get_transaction_receipt(HexStr(sent.tx_hashes[0]))["gasUsed"])
        t0 = time.perf_counter()
        meta = node_keys.meta_address
        found = scan(announcer.announcements(start), node_keys.viewing_key, meta.spending_pubkey)
        scan_ms = (time.perf_counter() - t0) * 1e3
        ours = [f for f in found if f.address == sent.stealth.address]
        tip_found = bool(ours) and ours[0].announcement.payment() == (suite.token.address, tip)
        tip_swept = False
        if tip_found:
            (spendable,) = scan([ours[0].announcement], node_keys.viewing_key, meta.spending_pubkey,
                                node_keys.spending_key)  # fmt: skip
            one_time = spendable.account()
            net.fund(one_time.address, SWEEP_GAS_WEI)
            before = suite.token.balance_of(node.account.address)
            rcpt = suite.token.transfer(node.account.address, tip, sender=one_time)
            gas["sweep (stealth key)"] = rcpt.gas_used
            after = suite.token.balance_of(node.account.address)
            tip_swept = after - before == tip
            say(f"tip {tip / ONE_VEIL:g} VEIL found by the node's scan in {scan_ms:.0f} ms and swept")
        else:
            say(f"tip to {sent.stealth.address[:10]}… NOT found by the node's scan")

        # feedback after settlement ----------------------------------------------------------------
        fb = agent.give_feedback(res.job_id, FEEDBACK_SCORE, ["private", "fhe"])
        gas["execute(give_feedback)"] = fb.gas_used
        summary = reputation.summary(node.account.address)
        say(f"feedback {FEEDBACK_SCORE} on job {res.job_id}; node has {summary.count} rating(s)")

        # the policy holds: a second job would exceed the daily cap --------------------------------
        nonce = net.w3.eth.get_transaction_count(agent_key.address)
        bal = agent.state().balance
        try:
            client.infer(model_id, x, private=True, node=node.account.address, max_attempts=1)
        except OverDailyCap as e:
            refused = e
        else:
            raise AgentError("the wallet policy let a job over the daily cap through")
        st1 = agent.state()
        untouched = net.w3.eth.get_transaction_count(agent_key.address) == nonce and st1.balance == bal
        say(
            f"second job refused: {refused.reason} ({price / ONE_VEIL:g} VEIL on top of "
            f"{st1.spent_today / ONE_VEIL:g} spent today > {daily_cap / ONE_VEIL:g}); "
            + ("nothing was sent" if untouched else "BUT a transaction was sent")
        )
    finally:
        client.close()
    timings["total"] = time.perf_counter() - t_start
    return AgentStepReport(
        agent_id=agent_id,
        wallet=wallet.address,
        job_id=res.job_id,
        job_status=job.status_name,
        job_client_is_wallet=job.client.lower() == wallet.address.lower(),
        output=list(res.output),
        price=price,
        per_payment_cap=st1.per_payment_cap,
        daily_cap=st1.daily_cap,
        wallet_before=st0.balance,
        wallet_after=st1.balance,
        spent_today=st1.spent_today,
        tip=tip,
        tip_address=sent.stealth.address,
        tip_found=tip_found,
        scan_ms=scan_ms,
        tip_swept=tip_swept,
        node_earnings=node_earnings,
        feedback_score=FEEDBACK_SCORE,
        node_ratings=summary.count,
        node_rating_average=summary.average,
        refused_reason=refused.reason,
        refused_detail=refused.detail,
        refused_before_tx=untouched,
        gas=gas,
        timings=timings,
    )
