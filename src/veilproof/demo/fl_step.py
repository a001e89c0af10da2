"""Demo step for issue #16: federated training on Flower, committed and paid on chain.

Five clients, each a real ``flower-supernode`` process with its own shard of the breast-cancer training set:
three honest, one free-rider (sends the global model back), one poisoner (sends it pushed 10x against its
gradient step). A sponsor escrows 1,000 VEIL on TrainingMarket; the coordinator (the SuperLink's operator)
stakes, runs 3 rounds with Flower's trimmed mean and posts each round. Then anyone's re-aggregation check
runs on every round, everyone claims, and the final model is exported to ONNX and registered with lineage
naming the job. ~80 s on this machine, so it is behind ``veilproof demo --fl``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.suite import Suite
from veilproof.chain.training_market import deploy_training_market
from veilproof.fl.coordinator import final_model, open_and_fill, run_job, verify_round
from veilproof.fl.publish import publish_trained
from veilproof.fl.runtime import ClientSpec

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

    @property
    def passed(self) -> bool:
        paid = {str(r["behavior"]): int(str(r["reward"])) for r in self.rows if r["behavior"] != "honest"}
        honest = [int(str(r["reward"])) for r in self.rows if r["behavior"] == "honest"]
        return all(v == 0 for v in paid.values()) and all(v > 0 for v in honest) and self.model_id > 0


def run_fl_step(suite: Suite, owner_key: object, say: Callable[[str], None], workdir: Path) -> FlReport:
    """Run the step on a deployed ``suite`` whose token ``owner_key`` may mint."""
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
    pub = publish_trained(
        suite, owner_key, market, job, final_model(workdir / "fl-job", ROUNDS), workdir,
        name="fl-breast-cancer-logreg", price=ONE_VEIL // 100,
    )  # fmt: skip
    rep.model_id = pub.published.model_id
    say(
        f"model {rep.model_id} registered: ONNX {pub.published.commitments['onnx_hash'][:12]}…, lineage job {job}"
    )
    say(
        f"model {rep.model_id} owned by TrainingRoyalties {pub.royalties}: its royalties go to the trainers by score"
    )
    rep.seconds = time.perf_counter() - t0
    return rep


def print_fl_report(rep: FlReport, console: Console) -> None:
    t = Table(title=f"federated job {rep.job_id}: contribution and pay (stake returned to all)")
    for c in ("client", "behavior", "score (ppm)", "reward VEIL"):
        t.add_column(c)
    for r in rep.rows:
        t.add_row(
            str(r["client"])[:10],
            str(r["behavior"]),
            str(r["score"]),
            f"{int(str(r['reward'])) / ONE_VEIL:.2f}",
        )
    console.print(t)
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
