"""``veilproof demo``: the whole loop on one machine, with a report.

Deploys the contracts, builds and publishes the example health models (ZK and FHE forms), starts
3 honest nodes and 1 cheating node (it serves a substituted model) as separate processes, then runs a
client through a verified ZK inference, a private FHE inference and a job sent to the cheater.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from eth_typing import HexStr
from rich.console import Console
from rich.table import Table

from veilproof.artifacts import ArtifactStore
from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.client import Client
from veilproof.client.errors import InferenceFailed, ProofRejected
from veilproof.client.publish import merkle_root, publish_model, register_dataset
from veilproof.demo.cheater import start_cheater
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.node.config import ServedModel


def default_cache() -> Path:
    import os

    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "veilproof" / "demo"


@dataclass
class DemoReport:
    steps: list[tuple[str, float]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    money: list[dict[str, Any]] = field(default_factory=list)
    gas: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    epoch_tables: list[Table] = field(default_factory=list)
    agent_rows: list[tuple[str, str]] = field(default_factory=list)
    total_s: float = 0.0


@contextmanager
def step(report: DemoReport, console: Console, title: str) -> Iterator[None]:
    t0 = time.perf_counter()
    with console.status(f"[bold]{title}[/]…"):
        yield
    dt = time.perf_counter() - t0
    report.steps.append((title, dt))
    console.print(f"[green]✓[/] {title} [dim]({dt:.1f}s)[/]")


def _dataset_root() -> bytes:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return merkle_root([row.tobytes() + bytes([int(t)]) for row, t in zip(x, y, strict=True)])


def run_demo(
    chain_url: str | None = None,
    workdir: Path | None = None,
    cache: Path | None = None,
    console: Console | None = None,
    fl: bool = False,
    explorer: bool = False,
    data: bool = False,
    dao: bool = True,
) -> DemoReport:
    console = console or Console()
    report = DemoReport()
    t_start = time.perf_counter()
    cache = cache or default_cache()
    store = ArtifactStore(cache / "artifacts")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="veilproof-demo-")
        workdir = Path(tmp.name)
    lnet: LocalNetwork | None = None
    try:
        # 1. models: build (cached after the first run) ----------------------------------------
        from veilproof.models.examples import build_example
        from veilproof.models.fhe_examples import build_bundle_with_model, load_dataset
        from veilproof.models.package import build_zk_package
        from veilproof.zk import evm
        from veilproof.zk.salt import SALT_ELEMENTS

        with step(
            report, console, "build ZK package: breast-cancer MLP (EZKL, salted hashed input, fixed params)"
        ):
            ex = build_example("breast_cancer_mlp", cache / "examples")
            pkg = build_zk_package(
                ex.onnx_path,
                ex.calibration_path,
                store,
                name="breast_cancer_mlp",
                salt_elements=SALT_ELEMENTS,
            )
        with step(report, console, "build the cheater's substitute: same MLP shape, other weights"):
            ex_bad = build_example("breast_cancer_mlp", cache / "examples", seed=7)
            pkg_bad = build_zk_package(
                ex_bad.onnx_path,
                ex_bad.calibration_path,
                store,
                name="mlp_substitute",
                salt_elements=SALT_ELEMENTS,
            )
        with step(report, console, "build FHE model: breast-cancer logistic regression (Concrete ML)"):
            fhe_data = load_dataset()
            fhe, fhe_model = build_bundle_with_model("logreg", store, fhe_data)
        report.facts["zk_logrows"] = pkg.settings.logrows
        report.facts["fhe_float_accuracy"] = round(fhe.accuracy.float_accuracy, 4)
        report.facts["fhe_quantized_accuracy"] = round(fhe.accuracy.quantized_accuracy, 4)

        # 2. chain + contracts ---------------------------------------------------------------
        with step(report, console, "start chain and deploy contracts (+ EZKL reusable verifier)"):
            v = evm.compile_reusable_verifier()
            treasury = Account.create().address
            params = SuiteParams.dev(treasury=treasury)
            lnet = LocalNetwork.start(workdir, chain_url, params=params, verifier=(v.abi, v.bytecode))
        suite, owner = lnet.suite, lnet.owner
        report.facts["chain"] = chain_url or f"embedded py-evm served on {lnet.chain_url}"

        # 3. publish ------------------------------------------------------------------------------
        with step(report, console, "publish models with commitments and lineage"):
            ds = register_dataset(suite, owner, _dataset_root(), "sklearn:breast_cancer")
            zk_pub = publish_model(
                suite, owner, name="breast-cancer-mlp", price=2 * ONE_VEIL, royalty_bps=2_000,
                onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg, datasets=[ds],
            )  # fmt: skip
            fhe_pub = publish_model(
                suite, owner, name="breast-cancer-logreg-fhe", price=1 * ONE_VEIL, royalty_bps=2_000,
                onnx_hash=fhe.server_zip_hash, fhe_client_hash=fhe.client_zip_hash, fhe_server_hash=fhe.server_zip_hash,
                datasets=[ds],
            )  # fmt: skip
            report.gas.update({f"zk {k}": g for k, g in zk_pub.gas.items()})
            report.gas.update({f"fhe {k}": g for k, g in fhe_pub.gas.items()})

        # 4. nodes --------------------------------------------------------------------------------
        honest_models = [
            ServedModel(zk_pub.model_id, zk_package=pkg.manifest_digest),
            ServedModel(fhe_pub.model_id, fhe_server=fhe.server_zip_hash, fhe_client=fhe.client_zip_hash),
        ]
        with step(
            report, console, "start 3 honest nodes + 1 cheater (separate processes; stake 100 VEIL each)"
        ):
            first = lnet.start_node("honest-1", honest_models, artifacts_dir=store.root)
            rest = [
                lnet.start_node(f"honest-{i}", honest_models, artifact_sources=[first.endpoint], wait=False)
                for i in (2, 3)
            ]
            # A demo-only node process (veilproof.demo.cheater): proves with the substitute package.
            cheat = start_cheater(
                lnet,
                "cheater",
                zk_pub.model_id,
                pkg.manifest_digest,
                pkg_bad.manifest_digest,
                artifacts_dir=store.root,
                wait=False,
            )
            for n in [*rest, cheat]:
                lnet.wait_ready(n)

        client_acct = lnet.new_funded(100)
        client = Client(suite, client_acct, workdir / "client", deadline_s=600)

        def say(msg: str) -> None:
            console.print(f"   [dim]{msg}[/]")

        x = ex.x_test[0]
        bal = _balances(lnet, client_acct.address, owner.address, treasury, [first, cheat])

        # 5. verified inference -------------------------------------------------------------------
        with step(report, console, "verified ZK inference (proof checked on chain, node + owner paid)"):
            r = client.infer(zk_pub.model_id, x, node=first.account.address, progress=say)
        expected = _onnx_logits(ex.onnx_path, x)
        report.jobs.append(_job_row(lnet, r.job_id, "zk", "honest-1", r.output, expected))
        report.facts["zk_proof_bytes"] = r.proof_bytes

        # 6. private inference --------------------------------------------------------------------
        with step(report, console, "private FHE inference (node never sees the record; client decrypts)"):
            xf = fhe_data.x_test[0]
            rf = client.infer(fhe_pub.model_id, xf, private=True, node=first.account.address, progress=say)
        clear = fhe_model.predict_proba(xf.reshape(1, -1), "disable")
        report.jobs.append(_job_row(lnet, rf.job_id, "fhe", "honest-1", rf.output, clear))
        for label, res in (("zk", r), ("fhe", rf)):
            for step_name, tx in res.tx_hashes.items():
                if tx:
                    report.gas[f"{label} job: {step_name}"] = int(
                        lnet.net.w3.eth.get_transaction_receipt(HexStr(tx))["gasUsed"]
                    )

        # 7. the cheater --------------------------------------------------------------------------
        with step(
            report, console, "job sent to the cheater (proof rejected, client refunded, cheater slashed)"
        ):
            caught, job_id = False, None
            try:
                client.infer(zk_pub.model_id, x, node=cheat.account.address, max_attempts=1, progress=say)
            except InferenceFailed as e:
                # Caught means slashed on chain (ProofRejected), not merely refused or failed.
                caught = any(isinstance(c, ProofRejected) for c in e.causes)
                job_id = next((c.details["job_id"] for c in e.causes if "job_id" in c.details), None)
        report.facts["cheater_caught"] = caught
        if job_id:
            report.jobs.append(_job_row(lnet, job_id, "zk", "cheater", None, expected))

        # 8. one epoch of the intelligence market ---------------------------------------------
        from veilproof.demo.epoch import run_epoch
        from veilproof.validator import ModelAudit

        with step(
            report,
            console,
            "one epoch: 2 validators audit (paid jobs, fresh keys), commit–reveal, Yuma consensus, emissions",
        ):
            epoch = run_epoch(
                lnet,
                2,
                audits=[
                    ModelAudit(zk_pub.model_id, ex.x_test[1:20], sample=0.2),
                    ModelAudit(fhe_pub.model_id, fhe_data.x_test[1:20], private=True),
                ],
                progress=say,
            )
        report.epoch_tables = epoch.tables()
        report.facts["epoch_mirror_agrees"] = epoch.mirror_agrees
        report.facts["cheater_emission_veil"] = epoch.node("cheater").emission_veil
        report.facts["honest_1_emission_veil"] = epoch.node("honest-1").emission_veil

        # 9. everybody withdraws --------------------------------------------------------------
        _withdraw_all(lnet, [first, cheat])
        after = _balances(lnet, client_acct.address, owner.address, treasury, [first, cheat])
        report.money = _money_rows(lnet, bal, after, client_acct.address, owner.address, first, cheat)

        # 10. an agent with its own capped wallet buys a private prediction (after the money table,
        # so the table's rows only show the client / cheater story above) -----------------------
        from veilproof.demo.agent_step import run_agent_step

        with step(
            report,
            console,
            "agent: capped wallet buys a private prediction, stealth tip, feedback, cap holds",
        ):
            ag = run_agent_step(lnet, fhe_pub.model_id, fhe_data.x_test[0], first, say)
        report.gas.update({f"agent {k}": g for k, g in ag.gas.items()})
        report.agent_rows = ag.rows()
        report.facts["agent_job_settled"] = ag.job_status == "settled"
        report.facts["agent_breach_refused_before_tx"] = ag.refused_before_tx
        if fl:  # 11. federated training on Flower, paid by contribution (#16; ~45 s, so off by default)
            from veilproof.demo.fl_step import print_fl_report, run_fl_step

            with step(report, console, "federated training: 5 Flower clients, free-rider + poisoner unpaid"):
                flr = run_fl_step(lnet.suite, lnet.owner, say, workdir, lnet=lnet, store=store)
            print_fl_report(flr, console)
            report.facts["fl_free_rider_and_poisoner_unpaid"] = flr.passed
            report.facts["fl_model_job_settled"] = flr.job_status == "settled"
        if data:  # 12. consented data market + its model's paid ZK inference (~50 s, so behind --data): demo/data_step.py
            from veilproof.demo.data_step import run_data_step

            with step(
                report,
                console,
                "data market: consents, a revocation, compute-to-data, Shapley pay, lineage, ZK royalty",
            ):
                dsr = run_data_step(lnet.net, suite, owner, say, lnet=lnet, store=store)
            report.gas.update({f"data {k}": g for k, g in dsr.gas.items()})
            report.facts.update({f"data: {k}": v for k, v in dsr.rows()})
        if dao:  # 13. the DAO (#17): last, since it hands every admin power to the timelock
            from veilproof.demo.dao_step import run_dao_step

            with step(
                report, console, "DAO: window change through the timelock; grant paid on a provable model"
            ):
                dr = run_dao_step(lnet.net, suite.deployment, owner, lambda who, ds: publish_model(
                    suite, who, name="open-mlp-grant", price=ONE_VEIL, onnx_hash=pkg.commitments()["onnx_hash"],
                    zk=pkg, datasets=[ds]).model_id, say)  # fmt: skip
            report.gas.update({f"dao {k}": g for k, g in dr.gas.items()})
            report.facts["dao_window_after_timelock"] = f"{dr.window_before} -> {dr.window_after} s"
            report.facts["dao_grant_paid_veil"] = dr.grant_paid / ONE_VEIL
        report.total_s = time.perf_counter() - t_start
        print_report(report, console)
        if explorer:  # keeps the network up and browsable until Ctrl-C (veilproof demo --explorer)
            from veilproof.demo.explorer_step import serve_explorer

            serve_explorer(lnet, console)
        return report
    finally:
        if lnet is not None:
            lnet.stop()
        if tmp is not None:
            tmp.cleanup()


def _onnx_logits(onnx_path: Path, x: np.ndarray) -> list[float]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return [float(v) for v in sess.run(None, {name: np.asarray(x, dtype=np.float32)[None]})[0].ravel()]


def _job_row(
    lnet: LocalNetwork, job_id: int, mode: str, node: str, out: Any, expected: Any
) -> dict[str, Any]:
    j = lnet.suite.market.read_job(job_id)

    def fmt(v: Any) -> str:
        return "—" if v is None else ", ".join(f"{float(t):.3f}" for t in np.ravel(v))

    return {
        "job": job_id, "mode": mode, "node": node, "status": j.status_name,
        "output": fmt(out), "reference": fmt(expected), "price": j.price / ONE_VEIL,
    }  # fmt: skip


def _balances(
    lnet: LocalNetwork, client: str, owner: str, treasury: str, nodes: list[NodeProcess]
) -> dict[str, tuple[int, int]]:
    s = lnet.suite
    out: dict[str, tuple[int, int]] = {}
    named = [("client", client), ("model owner", owner), ("treasury", treasury)]
    for who, addr in named + [(n.name, n.account.address) for n in nodes]:
        veil = s.token.balance_of(addr)
        stake = s.nodes.read_node(addr).stake
        out[who] = (int(veil), int(stake))
    return out


def _withdraw_all(lnet: LocalNetwork, nodes: list[NodeProcess]) -> None:
    s = lnet.suite
    for acct in [lnet.owner, *(n.account for n in nodes)]:
        if s.market.pending(acct.address):
            s.market.withdraw(sender=acct)


def _money_rows(
    lnet: LocalNetwork,
    before: dict[str, tuple[int, int]],
    after: dict[str, tuple[int, int]],
    client: str,
    owner: str,
    first: NodeProcess,
    cheat: NodeProcess,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for who in before:
        (b_veil, b_stake), (a_veil, a_stake) = before[who], after[who]
        rows.append({
            "who": who, "veil_change": (a_veil - b_veil) / ONE_VEIL,
            "stake_change": (a_stake - b_stake) / ONE_VEIL, "stake_now": a_stake / ONE_VEIL,
        })  # fmt: skip
    return rows


def print_report(r: DemoReport, console: Console) -> None:
    t = Table(title="jobs")
    for c in ("job", "mode", "node", "status", "output", "reference", "price"):
        t.add_column(c)
    for j in r.jobs:
        t.add_row(*(str(j[c]) for c in ("job", "mode", "node", "status", "output", "reference", "price")))
    console.print(t)
    m = Table(
        title="who was paid, who was slashed (VEIL)",
        caption="client: paid 2 + 1, got the 2 back and half of the cheater's 50 VEIL slash as challenger; "
        "model owner: 20% royalty; treasury: the other half of the slash",
    )
    for c in ("who", "veil_change", "stake_change", "stake_now"):
        m.add_column(c)
    for row in r.money:
        m.add_row(
            row["who"], f"{row['veil_change']:+g}", f"{row['stake_change']:+g}", f"{row['stake_now']:g}"
        )
    console.print(m)
    s = Table(title="time per step")
    s.add_column("step")
    s.add_column("seconds", justify="right")
    for name, dt in r.steps:
        s.add_row(name, f"{dt:.1f}")
    s.add_row("[bold]total[/]", f"[bold]{r.total_s:.1f}[/]")
    console.print(s)
    for t in r.epoch_tables:
        console.print(t)
    if r.agent_rows:
        a = Table(title="agent (Know Your Agent identity, capped wallet, stealth payment)")
        a.add_column("what")
        a.add_column("value")
        for k, v in r.agent_rows:
            a.add_row(k, v)
        console.print(a)
    g = Table(title="gas per transaction")
    g.add_column("transaction")
    g.add_column("gas", justify="right")
    for name, used in r.gas.items():
        g.add_row(name, f"{used:,}")
    console.print(g)
    console.print({k: v for k, v in r.facts.items()})
