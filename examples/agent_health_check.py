"""An autonomous agent with a capped wallet buys a private (FHE) prediction, pays the node through a
stealth address, and leaves feedback after settlement — all on an embedded chain.

What is real here: every contract call (registry, wallet policy, JobMarket escrow and settlement,
reputation, ERC-6538/5564 stealth payment), the stealth cryptography, the node finding and spending
its payment. What is a stand-in: the node's FHE evaluation itself — the node posts the hashes of
(evaluation keys, input ciphertext, output ciphertext, circuit) exactly as a real node does, but no
ciphertext is computed. Running the real FHE path from an AgentWallet needs two changes outside the
agents part (see docs/agents.md, "Open items"): the client SDK must open/accept jobs through the
wallet, and the node must accept request signatures from a contract client via ERC-1271.

Run: ``.venv/bin/python examples/agent_health_check.py``
"""

from __future__ import annotations

from eth_utils import keccak
from rich.console import Console

from veilproof.agents import (
    Agent,
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
)
from veilproof.chain import connect
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite

ONE = ONE_VEIL
PRICE = 10 * ONE
MODE_FHE = 2


def h(label: str) -> bytes:
    return keccak(label.encode())


def main() -> None:
    con = Console()
    net = connect()
    owner, author, node, human = net.new_accounts(4)
    agent_key = net.new_accounts(1, fund_wei=10**18)[0]

    con.rule("1. network: core suite + agents contracts")
    d = deploy_suite(net, owner, SuiteParams(min_stake=100 * ONE, challenge_window=600))
    addrs = deploy_agents(net, owner, d)
    token, models, nodes, market = (net.contract(n, a) for n, a in [
        ("Token", d.token), ("ModelRegistry", d.models), ("NodeRegistry", d.nodes), ("JobMarket", d.market)])  # fmt: skip
    registry = AgentRegistryClient(net, addrs["agent_registry"])
    reputation = ReputationClient(net, addrs["reputation"])
    stealth_reg = StealthRegistryClient(net, addrs["stealth_registry"])
    announcer = AnnouncerClient(net, addrs["stealth_announcer"])
    for k, v in addrs.items():
        con.print(f"  {k:18} {v}")

    con.rule("2. a health-risk model with an FHE commitment, and a staked node")
    net.transact(
        models.functions.register_model("health-risk", PRICE, 1000, h("onnx"), [], [], h("code")),
        sender=author,
    )
    model_id = int(net.call(models.functions.model_count()))
    net.transact(
        models.functions.set_fhe_commitment(model_id, h("fhe-client"), h("fhe-server")), sender=author
    )
    net.transact(nodes.functions.register("http://node.local", b"\x02" + h("node"), [model_id]), sender=node)
    net.transact(token.functions.mint(node.address, 100 * ONE), sender=owner)
    net.transact(token.functions.approve(nodes.address, 100 * ONE), sender=node)
    net.transact(nodes.functions.stake(100 * ONE), sender=node)
    node_keys = StealthKeys.generate()  # the node takes tips privately
    stealth_reg.register_keys(node, node_keys.meta_address)
    con.print(
        f"  model {model_id} at {PRICE / ONE:g} VEIL; node {node.address[:10]}… published its stealth meta-address"
    )

    con.rule("3. the agent: identity, capped wallet bound by signature")
    doc = RegistrationDoc(
        name="health-check-agent",
        description="Buys private risk predictions for its user",
        endpoints=(Endpoint("http", "https://agent.example/api"),),
        capabilities=("fhe-inference", "stealth-pay"),
        trust_models=("fhe", "stake"),
    )
    agent_id = registry.register(human, "https://agent.example/agent.json", doc)
    net.transact(token.functions.mint(human.address, 60 * ONE), sender=owner)
    policy = WalletPolicy(
        per_payment_cap=15 * ONE, daily_cap=20 * ONE, allowed_targets=(market.address, reputation.address)
    )
    wallet = AgentWalletClient.deploy(
        net, human, agent_key.address, token.address, policy, announcer.address, fund=60 * ONE
    )
    registry.bind_wallet(
        human, agent_id, wallet.address, agent_key
    )  # ERC-1271: the agent key signs for the wallet
    agent = Agent(Identity(registry, agent_id), wallet, agent_key, market, reputation, stealth_reg)
    st = agent.state()
    con.print(f"  agent #{agent_id} wallet {wallet.address[:10]}…: {st.balance / ONE:g} VEIL, "
              f"caps {st.per_payment_cap / ONE:g}/payment, {st.daily_cap / ONE:g}/day")  # fmt: skip

    con.rule("4. buy a private prediction (job escrowed from the wallet)")
    input_ct_hash = h("encrypted health record")
    job_id = agent.pay_job(model_id, node.address, input_ct_hash, MODE_FHE, net.now() + 3600)
    con.print(
        f"  job {job_id} opened; client on chain = {net.call(market.functions.job(job_id))[0][:10]}… (the wallet)"
    )
    # stand-in for the node's FHE evaluation: it posts the hashes a real node posts
    net.transact(
        market.functions.submit_fhe_result(
            job_id, h("eval keys"), input_ct_hash, h("output ct"), h("fhe-server")
        ),
        sender=node,
    )
    agent.accept(job_id)
    con.print(
        f"  node posted result hashes; agent accepted -> job status {net.call(market.functions.job(job_id))[7]} (settled)"
    )

    con.rule("5. tip the node privately through a stealth address")
    start = net.w3.eth.block_number
    payment = agent.pay_stealth(node.address, 3 * ONE)
    con.print(
        f"  paid 3 VEIL to one-time address {payment.stealth.address[:10]}… (view tag {payment.stealth.view_tag:#04x})"
    )
    found = announcer.scan(node_keys, from_block=start)
    acct = found[0].account()
    net.fund(acct.address, 10**17)  # gas; a relayer or paymaster in production
    net.transact(token.functions.transfer(node.address, 3 * ONE), sender=acct)
    con.print(f"  node scanned {len(announcer.announcements(start))} announcement(s), found its payment and swept it "
              f"with the derived key")  # fmt: skip

    con.rule("6. feedback after settlement, backed by the job's evidence")
    agent.give_feedback(job_id, 92, ["private", "fast"])
    s = reputation.summary(node.address)
    v = reputation.validation(job_id)
    con.print(
        f"  node reputation: {s.count} rating(s), average {s.average:g}, score {reputation.reputation_score(node.address):.1f}"
    )
    con.print(
        f"  backed by job {v.job_id}: output ct {v.output_hash.hex()[:16]}…, eval keys {v.proof_hash.hex()[:16]}…"
    )

    con.rule("7. the policy holds")
    try:
        agent.pay_job(model_id, node.address, h("another"), MODE_FHE, net.now() + 3600)
    except OverDailyCap as e:
        con.print(f"  refused before any transaction: [yellow]{e}[/]")
    con.print(
        f"  wallet left: {agent.state().balance / ONE:g} VEIL; spent today {agent.state().spent_today / ONE:g}"
    )


if __name__ == "__main__":
    main()
