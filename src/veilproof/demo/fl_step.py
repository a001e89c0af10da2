"""Demo step for issue #16: federated training on Flower, committed and paid on chain.

Five clients, each a real ``flower-supernode`` process with its own shard of the breast-cancer training set:
three honest, one free-rider (sends the global model back), one poisoner (sends it pushed 10x against its
gradient step). A sponsor escrows 1,000 VEIL on TrainingMarket; the coordinator (the SuperLink's operator)
stakes, runs 3 rounds with Flower's trimmed mean and posts each round. Then anyone's re-aggregation check
runs on every round, everyone claims, and the final model is exported to ONNX and registered with lineage
naming the job. ~42 s on this machine unloaded (~45 s with the ZK serving below), so it is behind
``veilproof demo --fl``.

With the demo's LocalNetwork (``lnet``) and artifact cache (``store``) the model goes further, like the
data step's: exported as the logit only (no sigmoid, so EZKL needs no lookup table and logrows stay low),
built for ZK (cached by the ONNX's content), served by a new node (nodes fix their model list at start),
one paid ZK inference settles, and the TrainingRoyalties splitter that owns the model sweeps the owner
royalty from JobMarket: each participant's claimable share is in the step's rows (0 for the free-rider
and the poisoner, whose scores are 0).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.suite import Suite
from veilproof.chain.training_market import deploy_training_market
from veilproof.fl.coordinator import final_model, open_and_fill, run_job, verify_round
from veilproof.fl.publish import publish_trained
from veilproof.fl.runtime import ClientSpec

if TYPE_CHECKING:
    from veilproof.artifacts import ArtifactStore
    from veilproof.demo.network import LocalNetwork

BEHAVIORS = ["honest", "honest", "honest", "freerider", "poisoner"]
BOUNTY, STAKE, CSTAKE, ROUNDS = 1_000 * ONE_VEIL, 10 * ONE_VEIL, 50 * ONE_VEIL, 3


@dataclass
class FlReport:
    job_id: int = 0
    model_id: int = 0
    rows: list[dict[str, object]] = field(default_factory=list)  # per client: behavior, score, paid
    rounds: list[dict[str, object]] = field(default_factory=list)  # per round: s, gas, val acc
    federated_accuracy: float = 0.0
    central_accuracy: float = 0.0
    seconds: float = 0.0
    # the paid ZK inference of the federated model (only with a LocalNetwork)
    zk_logrows: int = 0
    zk_extra_seconds: float = 0.0  # build, publish, node start, paid job, sweep
    job_status: str = ""
    job_logit: float = 0.0
    local_logit: float = 0.0

    @property
    def passed(self) -> bool:
        paid = {str(r["behavior"]): int(str(r["reward"])) for r in self.rows if r["behavior"] != "honest"}
        honest = [int(str(r["reward"])) for r in self.rows if r["behavior"] == "honest"]
        royalty_ok = all(
            (int(str(r["royalty"])) > 0) == (r["behavior"] == "honest") for r in self.rows if "royalty" in r
        )
        return (
            all(v == 0 for v in paid.values())
            and all(v > 0 for v in honest)
            and self.model_id > 0
            and royalty_ok
        )


def run_fl_step(
    suite: Suite,
    owner_key: object,
    say: Callable[[str], None],
    workdir: Path,
    *,
    lnet: LocalNetwork | None = None,
    store: ArtifactStore | None = None,
) -> FlReport:
    """Run the step on a deployed ``suite`` whose token ``owner_key`` may mint; with ``lnet`` (whose suite
    is ``suite``) and ``store``, also serve the model from a new node and pay one ZK inference."""
    from eth_account.signers.local import LocalAccount

    assert isinstance(owner_key, LocalAccount)
    t0 = time.perf_counter()
    net = suite.net
    market = deploy_training_market(net, owner_key, suite.token.address)
    sponsor, coord, *parts = net.new_accounts(2 + len(BEHAVIORS))
    job = open_and_fill(
        market, suite.token, owner_key, sponsor, coord, parts,
        rounds=ROUNDS, min_participants=4, bounty=BOUNTY, stake=STAKE, coordinator_stake=CSTAKE,
    )  # fmt: skip
    say(f"TrainingMarket {market.address}: job {job} open, 5 joined, coordinator staked; starting Flower")
    specs = [ClientSpec(p.address, p.key.hex(), b) for p, b in zip(parts, BEHAVIORS, strict=True)]
    run = run_job(market, job, coord, specs, workdir / "fl-job")
    rep = FlReport(job_id=job)
    for r in range(1, ROUNDS + 1):
        verify_round(market, job, workdir / "fl-job", r)
        rep.rounds.append(
            {
                "round": r,
                "s": run.round_seconds[r - 1],
                "gas": run.round_gas[r - 1],
                "val_acc": run.val_accuracy[r - 1],
            }
        )
    say("every round re-aggregated from its committed updates: hashes match the chain")
    for p, b in zip(parts, BEHAVIORS, strict=True):
        score = market.score(job, p.address)
        paid = market.claim(job, sender=p)
        rep.rows.append({"client": p.address, "behavior": b, "score": score, "reward": paid - STAKE})
    market.claim(job, sender=coord)
    rep.federated_accuracy, rep.central_accuracy = run.test_accuracy, run.central_test_accuracy
    model = final_model(workdir / "fl-job", ROUNDS)
    zk = lnet is not None and store is not None
    t_zk = time.perf_counter()
    if zk:
        say("exporting the federated model as its logit and building it for ZK (cached after the first run)")
    pub = publish_trained(
        suite, owner_key, market, job, model,
        store.root.parent / "fl-step" if zk and store is not None else workdir,
        name="fl-breast-cancer-logreg", price=ONE_VEIL // 100, zk_store=store if zk else None, logit_only=zk,
    )  # fmt: skip
    rep.model_id = pub.published.model_id
    say(
        f"model {rep.model_id} registered: ONNX {pub.published.commitments['onnx_hash'][:12]}…, lineage job {job}"
    )
    say(
        f"model {rep.model_id} owned by TrainingRoyalties {pub.royalties}: its royalties go to the trainers by score"
    )
    if lnet is not None and store is not None and pub.zk_package is not None:
        rep.zk_logrows = pub.zk_package.settings.logrows
        _paid_zk_inference(lnet, store, rep, pub.zk_package.manifest_digest, model, pub.royalties, parts, say)
        rep.zk_extra_seconds = time.perf_counter() - t_zk
    rep.seconds = time.perf_counter() - t0
    return rep


def _paid_zk_inference(
    lnet: LocalNetwork,
    store: ArtifactStore,
    rep: FlReport,
    manifest_digest: str,
    model: dict[str, Any],
    royalties: str,
    parts: list[Any],
    say: Callable[[str], None],
) -> None:
    """A new node serves the federated model, a client pays one ZK inference, anyone sweeps the owner
    royalty into the TrainingRoyalties splitter, and each participant's claimable share is recorded."""
    from veilproof.chain.training_market import TrainingRoyalties
    from veilproof.client import Client
    from veilproof.fl.model import load_split
    from veilproof.node.config import ServedModel

    say("a new node serves the federated model; a client pays one ZK inference")
    node = lnet.start_node(
        "fl-model-node", [ServedModel(rep.model_id, zk_package=manifest_digest)], artifacts_dir=store.root
    )
    x = load_split().x_test[0].astype(np.float32)
    client = Client(lnet.suite, lnet.new_funded(20), lnet.root / "fl-client", deadline_s=600)
    r = client.infer(rep.model_id, x, node=node.account.address, progress=say)
    rep.job_status, rep.job_logit = r.status, float(r.output[0])
    rep.local_logit = float(x.astype(np.float64) @ np.ravel(model["w"]) + float(np.ravel(model["b"])[0]))
    splitter = TrainingRoyalties(lnet.net, royalties)
    splitter.sweep(sender=lnet.owner)  # anyone may sweep: it only moves the model's royalty to the splitter
    for row, p in zip(rep.rows, parts, strict=True):
        row["royalty"] = splitter.owed(p.address)
    say(f"job {r.status}; royalty swept into {royalties[:10]}…, claimable by the trainers by score")


def print_fl_report(rep: FlReport, console: Console) -> None:
    t = Table(title=f"federated job {rep.job_id}: contribution and pay (stake returned to all)")
    for c in ("client", "behavior", "score (ppm)", "reward VEIL", "royalty claimable VEIL"):
        t.add_column(c)
    for r in rep.rows:
        t.add_row(
            str(r["client"])[:10],
            str(r["behavior"]),
            str(r["score"]),
            f"{int(str(r['reward'])) / ONE_VEIL:.2f}",
            f"{int(str(r['royalty'])) / ONE_VEIL:.6f}" if "royalty" in r else "-",
        )
    console.print(t)
    if rep.job_status:
        console.print(
            f"paid ZK inference of model {rep.model_id}: {rep.job_status}, logit {rep.job_logit:.3f} "
            f"(local {rep.local_logit:.3f}); EZKL logrows {rep.zk_logrows}; ZK part {rep.zk_extra_seconds:.0f} s"
        )
    rt = Table(title="rounds")
    for c in ("round", "seconds", "gas post_round", "val acc"):
        rt.add_column(c)
    for r in rep.rounds:
        rt.add_row(
            str(r["round"]), f"{float(str(r['s'])):.1f}", str(r["gas"]), f"{float(str(r['val_acc'])):.3f}"
        )
    console.print(rt)
    console.print(
        f"test accuracy: federated {rep.federated_accuracy:.4f}, central {rep.central_accuracy:.4f}; "
        f"model id {rep.model_id}; {rep.seconds:.0f} s"
    )


def run_standalone(console: Console | None = None, workdir: Path | None = None) -> FlReport:
    """``veilproof demo --fl``: the step on its own embedded chain."""
    from veilproof.chain import connect
    from veilproof.chain.deploy import SuiteParams, deploy_suite

    console = console or Console()
    net = connect("embedded")
    (owner,) = net.new_accounts(1)
    suite = Suite.attach(net, deploy_suite(net, owner, SuiteParams.dev()))
    with tempfile.TemporaryDirectory(prefix="veilproof-fl-") as td:
        rep = run_fl_step(suite, owner, lambda m: console.print(f"  {m}"), Path(workdir or td))
    print_fl_report(rep, console)
    net.close()
    return rep
