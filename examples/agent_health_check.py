"""An autonomous agent with a capped wallet buys a private (FHE) health prediction from a live node,
pays the node a tip through a stealth address, and rates it after settlement.

Everything is real and local: an embedded chain served over JSON-RPC, the core suite and the agents
contracts, a Concrete ML logistic regression (breast-cancer data) compiled to FHE and published with
its commitments, and a node running as its own OS process that evaluates the ciphertext without ever
seeing the record, the answer or a secret key. The agent's wallet is the job's client: it escrows the
price (``AgentWallet.pay_job``) and accepts the result (``AgentWallet.execute``); the agent key signs
the request to the node, which checks it against the wallet with ERC-1271.

Run: ``.venv/bin/python examples/agent_health_check.py`` (about 25 s on 2 cores).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

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
)
from veilproof.artifacts import ArtifactStore
from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.chain.views import SETTLED, read_job
from veilproof.client import Client
from veilproof.client.publish import publish_model
from veilproof.demo.network import LocalNetwork
from veilproof.models.fhe_examples import build_bundle_with_model, load_dataset
from veilproof.node.config import ServedModel

ONE = ONE_VEIL
PRICE = 10 * ONE
TIP = 3 * ONE
PER_PAYMENT_CAP = 15 * ONE
DAILY_CAP = 20 * ONE  # one job (10) + the tip (3) fit; a second job (10) does not
FUND = 60 * ONE


def veil(amount: int) -> str:
    return f"{amount / ONE:g} VEIL"


def main() -> None:
    con = Console()
    t_start = time.perf_counter()
    gas: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="veilproof-agent-") as tmp:
        root = Path(tmp)
        lnet: LocalNetwork | None = None
        try:
            # 1 ----------------------------------------------------------------------------------
            con.rule("1. FHE model: breast-cancer logistic regression compiled with Concrete ML")
            store = ArtifactStore(root / "store")
            data = load_dataset()
            bundle, model = build_bundle_with_model("logreg", store, data)
            con.print(f"  client.zip {bundle.client_zip_hash[:16]}…  server.zip {bundle.server_zip_hash[:16]}…  "
                      f"quantized accuracy {bundle.accuracy.quantized_accuracy:.3f}")  # fmt: skip

            # 2 ----------------------------------------------------------------------------------
            con.rule("2. live network: chain, core suite + agents contracts, a node process")
            params = SuiteParams.dev(max_deadline=3600, challenge_window=60)
            lnet = LocalNetwork.start(root / "net", None, params=params)
            net, suite = lnet.net, lnet.suite
            addrs = deploy_agents(net, lnet.owner, suite.deployment)
            suite.deployment.save(lnet.deployment_file)
            reputation = ReputationClient(net, addrs["reputation"])
            stealth_reg = StealthRegistryClient(net, addrs["stealth_registry"])
            announcer = AnnouncerClient(net, addrs["stealth_announcer"])
            registry = AgentRegistryClient(net, addrs["agent_registry"])
            pub = publish_model(
                suite, lnet.owner, name="health-risk-logreg-fhe", price=PRICE, royalty_bps=2_000,
                onnx_hash=bundle.server_zip_hash, fhe_client_hash=bundle.client_zip_hash,
                fhe_server_hash=bundle.server_zip_hash,
            )  # fmt: skip
            served = ServedModel(
                pub.model_id, fhe_server=bundle.server_zip_hash, fhe_client=bundle.client_zip_hash
            )
            node = lnet.start_node("fhe-node", [served], artifacts_dir=store.root, stake_veil=100)
            node_keys = StealthKeys.generate()  # the node operator takes tips privately
            stealth_reg.register_keys(node.account, node_keys.meta_address)
            con.print(f"  chain {lnet.chain_url}; model {pub.model_id} at {veil(PRICE)}; node "
                      f"{node.account.address[:10]}… at {node.endpoint} (pid {node.proc.pid if node.proc else '?'}), "
                      "stealth meta-address published")  # fmt: skip

            # 3 ----------------------------------------------------------------------------------
            con.rule("3. the agent: identity, capped wallet bound by the agent key's signature")
            human = lnet.new_funded(FUND // ONE)
            (agent_key,) = net.new_accounts(1)  # holds ETH for gas only; the capital is in the wallet
            doc = RegistrationDoc(
                name="health-check-agent",
                description="Buys private risk predictions for its user",
                endpoints=(Endpoint("http", "https://agent.example/api"),),
                capabilities=("fhe-inference", "stealth-pay"),
                trust_models=("fhe", "stake"),
            )
            agent_id = registry.register(human, "https://agent.example/agent.json", doc)
            policy = WalletPolicy(PER_PAYMENT_CAP, DAILY_CAP, (suite.market.address, reputation.address))
            wallet = AgentWalletClient.deploy(
                net, human, agent_key.address, suite.token.address, policy, announcer.address, fund=FUND
            )
            registry.bind_wallet(human, agent_id, wallet.address, agent_key)  # ERC-1271 consent
            agent = Agent(
                Identity(registry, agent_id), wallet, agent_key, suite.market, reputation, stealth_reg
            )
            st0 = agent.state()
            con.print(f"  agent #{agent_id}: key {agent_key.address[:10]}…, wallet {wallet.address[:10]}… holds "
                      f"{veil(st0.balance)}; caps {veil(st0.per_payment_cap)}/payment, {veil(st0.daily_cap)}/day")  # fmt: skip

            # 4 ----------------------------------------------------------------------------------
            con.rule("4. private prediction: encrypted here, evaluated by the node, decrypted here")
            payer = AgentPayer(agent)
            client = Client(
                suite, agent_key, root / "agent", payer=payer, reputation=reputation.reputation_score,
                poll_interval=0.2, deadline_s=1800,
            )  # fmt: skip
            x = data.x_test[0]
            t_inf = time.perf_counter()
            res = client.infer(pub.model_id, x, private=True, progress=lambda m: con.print(f"  · {m}"))
            t_inf = time.perf_counter() - t_inf
            clear = np.ravel(model.predict_proba(x.reshape(1, -1), "disable"))
            job = read_job(suite, res.job_id)
            assert job.status == SETTLED and job.client.lower() == wallet.address.lower()
            assert np.allclose(res.output, clear, atol=1e-6), (res.output, clear)
            gas.update({c.label: c.gas_used for c in payer.calls})
            con.print(f"  job {res.job_id} {job.status_name}; client on chain = the wallet; "
                      f"P(benign) = {res.output[1]:.3f} (clear model: {clear[1]:.3f})")  # fmt: skip

            # 5 ----------------------------------------------------------------------------------
            con.rule("5. tip through a stealth address; the node scans, derives the key and spends")
            start = net.w3.eth.block_number + 1
            tip = agent.pay_stealth(node.account.address, TIP)
            gas["pay_stealth"] = int(net.w3.eth.get_transaction_receipt(tip.tx_hashes[0])["gasUsed"])
            t_scan = time.perf_counter()
            found = announcer.scan(node_keys, from_block=start)
            t_scan = time.perf_counter() - t_scan
            assert [f.address for f in found] == [tip.stealth.address]
            one_time = found[0].account()
            assert one_time.address == tip.stealth.address  # the derived key controls the address
            net.fund(one_time.address, 10**18)  # gas for the sweep; a relayer or paymaster in production
            suite.token.transfer(node.account.address, TIP, sender=one_time)
            earned = suite.market.pending(node.account.address)
            suite.market.withdraw(sender=node.account)
            con.print(f"  tip to one-time address {tip.stealth.address[:10]}… (view tag {tip.stealth.view_tag:#04x}); "
                      f"node found {len(found)} payment in {t_scan * 1e3:.0f} ms, swept it, and withdrew "
                      f"{veil(earned)} job earnings")  # fmt: skip

            # 6 ----------------------------------------------------------------------------------
            con.rule("6. feedback after settlement, backed by the job's evidence")
            fb = agent.give_feedback(res.job_id, 95, ["private", "fhe"])
            gas["execute(give_feedback)"] = fb.gas_used
            summary = reputation.summary(node.account.address)
            v = reputation.validation(res.job_id)
            assert v is not None and summary.count == 1
            con.print(f"  node: {summary.count} rating, average {summary.average:g}, score "
                      f"{reputation.reputation_score(node.account.address):.1f}; evidence: eval keys "
                      f"{v.proof_hash.hex()[:12]}…, output ct {v.output_hash.hex()[:12]}…")  # fmt: skip

            # 7 ----------------------------------------------------------------------------------
            con.rule("7. the policy holds: a second job would exceed the daily cap")
            nonce = net.w3.eth.get_transaction_count(agent_key.address)
            try:
                client.infer(pub.model_id, data.x_test[1], private=True)
                raise AssertionError("the wallet policy let a second job through")
            except OverDailyCap as e:
                refused = e.reason
            assert net.w3.eth.get_transaction_count(agent_key.address) == nonce  # nothing was sent
            st1 = agent.state()
            con.print(f"  [yellow]OverDailyCap ({refused!r})[/]: {veil(PRICE)} on top of {veil(st1.spent_today)} "
                      f"spent today > cap {veil(st1.daily_cap)}; refused before any transaction "
                      f"(agent key nonce still {nonce})")  # fmt: skip

            # summary ----------------------------------------------------------------------------
            t_total = time.perf_counter() - t_start
            tab = Table(title="agent health check", show_header=False)
            tab.add_column(style="bold")
            tab.add_column()
            tab.add_row("agent", f"#{agent_id}, wallet {wallet.address}")
            tab.add_row("job", f"{res.job_id} FHE, {job.status_name}, client = wallet, node {res.node}")
            tab.add_row("prediction", f"P(malignant, benign) = {res.output[0]:.3f}, {res.output[1]:.3f} "
                        f"(label {int(data.y_test[0])}); equals clear model: yes")  # fmt: skip
            tab.add_row("FHE timings", ", ".join(f"{k} {v:.2f}s" for k, v in res.timings.items()))
            tab.add_row("wallet", f"{veil(st0.balance)} → {veil(st1.balance)}; spent today "
                        f"{veil(st1.spent_today)} of {veil(st1.daily_cap)} (job {veil(PRICE)} + tip {veil(TIP)})")  # fmt: skip
            tab.add_row("node paid", f"{veil(earned)} job earnings + {veil(TIP)} stealth tip")
            tab.add_row("reputation", f"{summary.count} rating, avg {summary.average:g}")
            tab.add_row("policy breach", "OverDailyCap raised before any transaction")
            tab.add_row("gas (wallet path)", ", ".join(f"{k} {g:,}" for k, g in gas.items()))
            tab.add_row(
                "time", f"inference {t_inf:.1f}s, stealth scan {t_scan * 1e3:.0f} ms, total {t_total:.1f}s"
            )
            con.print(tab)
            client.close()
        finally:
            if lnet is not None:
                lnet.stop()


if __name__ == "__main__":
    main()
