"""What the node adds to its engine: paid jobs through a real node process next to the plain engine call
on the same input, in the same run, with the node's per-phase table (``GET /jobs/{id}`` ``timings``).

Used by ``bench/zk.py`` (ZK: node job vs plain ``ezkl.gen_witness`` + ``ezkl.prove``) and
``bench/fhe.py`` (FHE: node job vs Concrete's ``Server.run`` in-process on deserialized keys). The chain
is a real anvil; the node is ``python -m veilproof.node.runner`` with its prover processes.

Two ratios, each per job then the median and the min-max spread over the warm jobs (the first job is
shown apart): ``node/engine`` is the node's job time over the plain engine's time on the same input run
right after it (what a user compares, but on a shared machine two runs of the same proof differ by
±20 %); ``node/own engine`` is the node's job time over the engine calls inside that same job (EZKL's
witness + prove in the prover process; Concrete's run in the FHE worker): the same quantity without
the run-to-run noise. ``not engine ms`` is the difference: everything the node adds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# Phases in the order a ZK / FHE job goes through them (what the node reports, see node/timings.py).
ZK_PHASES = ["admission", "chain_reads", "decrypt", "commitment", "record", "start_job", "queue",
             "prover_ipc", "load", "witness", "prove", "prove_checks", "verify", "check", "sign", "submit",
             "other"]  # fmt: skip
FHE_PHASES = ["admission", "chain_reads", "record", "start_job", "queue", "keys", "run", "submit", "other"]
ENGINE = {"zk": ("witness", "prove"), "fhe": ("run",)}


@dataclass
class World:
    lnet: Any
    anvil: Any
    root: Path

    def stop(self) -> None:
        self.lnet.stop()
        self.anvil.stop()


@contextmanager
def world(root: Path, verifier: bool) -> Iterator[World]:
    """anvil + the deployed suite (+ for ZK the reusable Halo2 verifier and the pay-on-proof
    ReceiptMarket, with the load benchmark's parameters)."""
    from veilproof.chain.deploy import SuiteParams
    from veilproof.chain.dev.anvil import start_anvil
    from veilproof.demo.network import LocalNetwork

    anvil = start_anvil()
    try:
        ver = None
        if verifier:
            from veilproof.zk import evm

            v = evm.compile_reusable_verifier()
            ver = (v.abi, v.bytecode)
        params = SuiteParams.dev(max_deadline=3600, challenge_window=60)
        from veilproof.demo.load import RECEIPT_PARAMS

        receipts = RECEIPT_PARAMS if verifier else None
        lnet = LocalNetwork.start(root, anvil.url, params=params, verifier=ver, receipts=receipts)
    except BaseException:
        anvil.stop()
        raise
    w = World(lnet, anvil, root)
    try:
        yield w
    finally:
        w.stop()


def measure(
    job: Callable[[], tuple[Any, float]],
    engine: Callable[[], float],
    reps: int,
    kind: str,
) -> dict[str, Any]:
    """``reps`` pairs of (node job, plain engine), back to back. ``job`` returns (the node's JobTimings,
    the client-observed seconds); ``engine`` the plain engine's seconds on the same input."""
    runs = []
    for _ in range(reps):
        timings, client_s = job()
        engine_s = engine()
        runs.append(
            {"node_s": timings.total_s, "client_s": client_s, "engine_s": engine_s,
             "ratio": timings.total_s / engine_s, "phases": timings.phases, "prover": timings.prover}
        )  # fmt: skip
    warm = runs[1:] if len(runs) > 1 else runs
    ratios = [r["ratio"] for r in warm]
    phases: dict[str, float] = {}
    for name in {k for r in warm for k in r["phases"]}:
        phases[name] = statistics.median(r["phases"].get(name, 0.0) for r in warm)
    own = [r["node_s"] / sum(r["phases"].get(p, 0.0) for p in ENGINE[kind]) for r in warm]
    med_node = statistics.median(r["node_s"] for r in warm)
    return {
        "reps": reps,
        "first_job_ratio": runs[0]["ratio"],
        "first_job_node_s": runs[0]["node_s"],
        "node_s": med_node,
        "client_s": statistics.median(r["client_s"] for r in warm),
        "engine_s": statistics.median(r["engine_s"] for r in warm),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        # Per job, the node's total over the engine calls inside that same job (no cross-run noise):
        "ratio_vs_own_engine": statistics.median(own),
        "ratio_vs_own_engine_min": min(own),
        "ratio_vs_own_engine_max": max(own),
        "non_engine_s": statistics.median(
            r["node_s"] - sum(r["phases"].get(p, 0.0) for p in ENGINE[kind]) for r in warm
        ),
        "phases": phases,
        "package_loads": [r["prover"].get("package_loads") for r in runs],
        "loaded_for_job": [r["prover"].get("loaded_for_job") for r in runs],
        "runs": runs,
    }


def label(row: dict[str, Any]) -> str:
    """A row's name in the tables: the model, and how its jobs were paid when a bench measures both."""
    return f"{row['model']} · {row['settlement']}" if "settlement" in row else str(row["model"])


def table(title: str, rows: list[dict[str, Any]], order: list[str], engine_label: str) -> None:
    """The ratio table, then where the node's time goes (median seconds per phase)."""
    console = Console(width=200)
    t = Table(title=title)
    for c in ["model", "node job s", "client s", f"{engine_label} s", "node/engine", "spread",
              "node/own engine", "spread ", "not engine ms", "1st job", "loads/job"]:  # fmt: skip
        t.add_column(c, justify="right")
    for r in rows:
        if "error" in r:
            t.add_row(label(r), *[""] * 9, r["error"][:60])
            continue
        t.add_row(
            label(r), f"{r['node_s']:.3f}", f"{r['client_s']:.3f}", f"{r['engine_s']:.3f}",
            f"{r['ratio']:.3f}", f"{r['ratio_min']:.3f}-{r['ratio_max']:.3f}",
            f"{r['ratio_vs_own_engine']:.3f}",
            f"{r['ratio_vs_own_engine_min']:.3f}-{r['ratio_vs_own_engine_max']:.3f}",
            f"{1e3 * r['non_engine_s']:.0f}",
            f"{r['first_job_ratio']:.3f}", ",".join(str(v) for v in r["loaded_for_job"]),
        )  # fmt: skip
    console.print(t)
    p = Table(title="where the node's job time goes (median ms per phase, warm jobs)")
    p.add_column("phase")
    ok = [r for r in rows if "error" not in r]
    for r in ok:
        p.add_column(label(r), justify="right")
    for name in order + sorted({k for r in ok for k in r["phases"]} - set(order)):
        if not any(name in r["phases"] for r in ok):
            continue
        p.add_row(name, *[f"{1e3 * r['phases'].get(name, 0.0):.1f}" for r in ok])
    p.add_row("total", *[f"{1e3 * r['node_s']:.1f}" for r in ok])
    console.print(p)


def now() -> float:
    return time.perf_counter()
