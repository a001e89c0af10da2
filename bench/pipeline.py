"""Pipeline benchmark (issue 18): a model proven whole vs cut into slices chained by hashed boundaries.

Per model: build the whole circuit and the slices; prove each circuit in its own spawned process
(so peak RSS is per prover, as on separate nodes); "1 node" proves the slices one after another,
"2 nodes" proves them in a pool of two processes at once (a node only needs the previous stage's
*values*, which a witness pass gives in milliseconds, not its proof). Then on the embedded chain:
the gas of settling the whole model as a 1-stage pipeline vs the sliced one (PipelineMarket,
verify + link per stage). Writes bench/results/pipeline.json and pipeline.md.

    .venv/bin/python bench/pipeline.py
    .venv/bin/python bench/pipeline.py --nodes [--model cnn4|mlp] [--rounds N]

``--nodes`` measures stage dispatch with real node processes (docs/pipelines.md "Stage dispatch"):
one pipeline job of the model cut into 4 slices, its stages spread over 1, 2 and 4 node processes
(stage s on node s mod N) by the client's PipelineOrchestrator, from ``open_job`` to the settled
receipt on the embedded chain served over JSON-RPC; against the whole model as a 1-stage pipeline on
one node. Adds a "nodes" entry to bench/results/pipeline.json and a table to pipeline.md.

The machine is a shared 2-core box: wall times are noisy and "2 nodes" share the same 2 cores, so
the parallel speed-up is a lower bound of what two machines give. The load average is recorded.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results" / "pipeline.json"
TABLE = Path(__file__).parent / "results" / "pipeline.md"


def _vm_hwm_mb() -> float:
    """This process's peak RSS since its exec (VmHWM). Not ``ru_maxrss``: Linux keeps that across
    fork + exec, so a spawned prover reported its parent's peak (measured: 788 MB for every circuit)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prove_worker(args: tuple[str, str, list[float]]) -> dict[str, Any]:
    """In a fresh process: load the package, prove on x; seconds, peak RSS, proof bytes + instances."""
    store_root, digest, x = args
    warnings.simplefilter("ignore")
    from veilproof.artifacts.store import ArtifactStore
    from veilproof.models.package import ModelPackage
    from veilproof.zk.prover import EzklProver

    pkg = ModelPackage.load(ArtifactStore(Path(store_root)), digest)
    arr = np.asarray(x, dtype=np.float32).reshape(pkg.input_shape)
    t = time.perf_counter()
    proof = EzklProver().prove(pkg.files, arr)
    dt = time.perf_counter() - t
    rss_mb = _vm_hwm_mb()
    return {"prove_s": dt, "peak_rss_mb": rss_mb, "proof": proof.to_bytes().decode()}


def _cnn(path: Path) -> tuple[Path, Path, np.ndarray]:
    """The third-party-shaped CNN of tests/models/test_slicing.py (4 padded conv blocks + head)."""
    import torch

    torch.manual_seed(3)
    nn = torch.nn
    layers: list[Any] = [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()]
    for _ in range(3):
        layers += [nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * 4 * 4, 5)).eval()
    x = np.random.default_rng(3).normal(size=(8, 1, 4, 4)).astype(np.float32)
    torch.onnx.export(
        model, torch.tensor(x[:1]), str(path), input_names=["input"], output_names=["y"], opset_version=17
    )
    cal = path.with_suffix(".npy")
    np.save(cal, x)
    return path, cal, x


def _stage_inputs(sliced: Any, x: np.ndarray) -> list[np.ndarray]:
    """Each slice's input on sample x, from witness passes only (what each node receives)."""
    from veilproof.zk.instances import felt_hex_to_int, felt_to_signed
    from veilproof.zk.prover import EzklProver

    xs = [np.asarray(x, np.float32)]
    pr = EzklProver()
    for p in sliced.packages[:-1]:
        with tempfile.TemporaryDirectory() as td:
            w = json.loads(pr.witness(p.files, xs[-1].reshape(p.input_shape), Path(td)).read_text())
        vals = [felt_to_signed(felt_hex_to_int(v)) for v in w["outputs"][0]]
        xs.append((np.asarray(vals, np.float64) / 2 ** p.settings.output_scales[0]).astype(np.float32))
    return xs


def bench_model(name: str, onnx_path: Path, cal: Path, x: np.ndarray, slices: int | str, available: int | None,
                store_root: Path) -> dict[str, Any]:  # fmt: skip
    from veilproof.artifacts.store import ArtifactStore
    from veilproof.models.package import build_zk_package
    from veilproof.models.slicing import build_sliced

    store = ArtifactStore(store_root)
    t = time.perf_counter()
    whole = build_zk_package(onnx_path, cal, store, name=f"{name}-whole")
    build_whole = time.perf_counter() - t
    t = time.perf_counter()
    sliced = build_sliced(
        onnx_path, cal, store, slices, available=available, work_dir=store_root / f"{name}-slices"
    )
    build_sliced_s = time.perf_counter() - t
    ctx = mp.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        t = time.perf_counter()
        w = pool.map(_prove_worker, [(str(store_root), whole.manifest_digest, x.reshape(-1).tolist())])[0]
        whole_wall = time.perf_counter() - t
    xs = _stage_inputs(sliced, x)
    jobs = [
        (str(store_root), p.manifest_digest, xi.reshape(-1).tolist())
        for p, xi in zip(sliced.packages, xs, strict=True)
    ]
    walls = {}
    per_slice: list[dict[str, Any]] = []
    for nodes in (1, 2):
        with ctx.Pool(nodes, maxtasksperchild=1) as pool:
            t = time.perf_counter()
            res = pool.map(_prove_worker, jobs, chunksize=1)
            walls[nodes] = time.perf_counter() - t
        if nodes == 1:
            per_slice = res
    return {
        "model": name,
        "whole": {"logrows": whole.settings.logrows, "build_s": build_whole, "prove_s": w["prove_s"],
                  "wall_s": whole_wall, "peak_rss_mb": w["peak_rss_mb"], "digest": whole.manifest_digest,
                  "proof": w["proof"]},
        "sliced": {"n": len(sliced.packages), "cuts": list(sliced.cuts), "logrows": list(sliced.logrows),
                   "build_s": build_sliced_s, "prove_s_total": sum(r["prove_s"] for r in per_slice),
                   "prove_s": [r["prove_s"] for r in per_slice], "peak_rss_mb": [r["peak_rss_mb"] for r in per_slice],
                   "wall_1_node_s": walls[1], "wall_2_nodes_s": walls[2],
                   "digests": [p.manifest_digest for p in sliced.packages], "proofs": [r["proof"] for r in per_slice]},
    }  # fmt: skip


def onchain_gas(rows: list[dict[str, Any]], store_root: Path) -> None:
    """Settle each model whole (1-stage pipeline) and sliced on PipelineMarket; gas per route."""
    from veilproof.artifacts.store import ArtifactStore
    from veilproof.chain import connect
    from veilproof.chain.deploy import (
        ONE_VEIL,
        SuiteParams,
        deploy_pipeline_market,
        deploy_suite,
        deploy_zk_verifier,
    )
    from veilproof.chain.suite import Suite
    from veilproof.client.publish import publish_model
    from veilproof.models.package import ModelPackage
    from veilproof.zk import evm
    from veilproof.zk.proof import Proof

    store = ArtifactStore(store_root)
    net = connect()
    owner, node, client = net.new_accounts(3)
    d = deploy_suite(net, owner, SuiteParams.dev())
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    deploy_pipeline_market(net, owner, d)
    s = Suite.attach(net, d)
    pm = s.pipelines
    assert pm is not None
    s.token.mint(node.address, 1000 * ONE_VEIL, sender=owner)
    s.token.mint(client.address, 1000 * ONE_VEIL, sender=owner)
    s.token.approve(pm.address, 1000 * ONE_VEIL, sender=client)
    routes: list[tuple[dict[str, Any], str, list[str], list[str]]] = []
    for r in rows:
        routes.append((r, "whole", [r["whole"]["digest"]], [r["whole"]["proof"]]))
        routes.append((r, "sliced", r["sliced"]["digests"], r["sliced"]["proofs"]))
    ids: dict[str, int] = {}
    for _, _, digests, _ in routes:
        for dg in digests:
            if dg not in ids:
                pkg = ModelPackage.load(store, dg)
                ids[dg] = publish_model(s, owner, name=dg[:12], price=ONE_VEIL,
                                        onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg).model_id  # fmt: skip
    s.nodes.register("http://127.0.0.1:1", b"\x02" * 33, list(ids.values()), sender=node)
    s.token.approve(s.nodes.address, 1000 * ONE_VEIL, sender=node)
    s.nodes.stake(1000 * ONE_VEIL, sender=node)
    for r, kind, digests, proofs_json in routes:
        proofs = [Proof.from_bytes(p.encode()) for p in proofs_json]
        pid = pm.register_pipeline([ids[dg] for dg in digests], sender=owner)
        jid, rcpt = pm.open_job(pid, proofs[0].instances[0], ONE_VEIL, net.now() + 3600, sender=client)
        stage_gas, claim_gas = [], []
        for i, p in enumerate(proofs):
            claim_gas.append(pm.claim_stage(jid, i, sender=node).gas_used)
            sub = pm.submit_stage(jid, i, p.proof_bytes, p.instances, sender=node)
            assert sub.accepted, (r["model"], kind, i, sub.reason)
            stage_gas.append(sub.receipt.gas_used)
        assert pm.receipt(jid).settled
        r[kind]["gas"] = {
            "open_job": rcpt.gas_used,
            "claims": claim_gas,
            "stages": stage_gas,
            "total": rcpt.gas_used + sum(claim_gas) + sum(stage_gas),
        }


def _table(rows: list[dict[str, Any]], load: str) -> str:
    out = [
        "| model | route | circuits (log2 rows) | total prove s | wall 1 node s | wall 2 nodes s | peak RSS per prover MB | gas (open + stages = total) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        w, s = r["whole"], r["sliced"]
        out.append(
            f"| {r['model']} | whole | {w['logrows']} | {w['prove_s']:.1f} | {w['wall_s']:.1f} | – | "
            f"{w['peak_rss_mb']:.0f} | {w['gas']['open_job']:,} + {w['gas']['stages'][0]:,} = {w['gas']['total']:,} |"
        )
        out.append(
            f"| {r['model']} | {s['n']} slices | {', '.join(map(str, s['logrows']))} | {s['prove_s_total']:.1f} | "
            f"{s['wall_1_node_s']:.1f} | {s['wall_2_nodes_s']:.1f} | {', '.join(f'{m:.0f}' for m in s['peak_rss_mb'])} | "
            f"{s['gas']['open_job']:,} + {' + '.join(f'{g:,}' for g in s['gas']['stages'])} = {s['gas']['total']:,} |"
        )
    out.append("")
    out.append(
        f"Measured by bench/pipeline.py on the shared 2-core box ({load}); wall times include spawning a"
    )
    out.append("prover process (~2-3 s). Prove times are EZKL `prove` only (+ its self-check verify).")
    return "\n".join(out) + "\n"


def bench_nodes(model: str, rounds: int, n_slices: int = 4) -> dict[str, Any]:
    """Wall time of one pipeline job (open → settled receipt) with its stages on 1, 2, 4 node
    processes vs the whole model on one node; median of ``rounds`` jobs per configuration."""
    from veilproof.artifacts.store import ArtifactStore
    from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_pipeline_market
    from veilproof.client import Client
    from veilproof.client.pipeline import PipelineOrchestrator
    from veilproof.client.publish import publish_model
    from veilproof.demo.network import LocalNetwork
    from veilproof.models.examples import build_example
    from veilproof.models.package import build_zk_package
    from veilproof.models.slicing import build_sliced
    from veilproof.node.config import ServedModel
    from veilproof.zk import evm

    root = Path(os.environ.get("VP_BENCH_DIR", tempfile.mkdtemp(prefix="vp-bench-pipeline-")))
    store = ArtifactStore(root / "store")
    if model == "mlp":
        ex = build_example("breast_cancer_mlp", root / "examples")
        onnx_path, cal, x = ex.onnx_path, ex.calibration_path, np.asarray(ex.x_test[0])
    else:
        onnx_path, cal, xs = _cnn(root / "cnn4.onnx")
        x = xs[0]
    t = time.perf_counter()
    whole = build_zk_package(onnx_path, cal, store, name=f"{model}-whole")
    sliced = build_sliced(onnx_path, cal, store, n_slices, work_dir=root / f"{model}-slices{n_slices}")
    build_s = time.perf_counter() - t
    print(f"built whole 2^{whole.settings.logrows} and slices {sliced.logrows} in {build_s:.0f} s")

    v = evm.compile_reusable_verifier()
    params = SuiteParams.dev(max_deadline=3600)
    # a fresh chain and node homes every run (a node home keeps its keystore, under the old password)
    net_dir = Path(tempfile.mkdtemp(prefix="net-", dir=root))
    lnet = LocalNetwork.start(net_dir, None, params=params, verifier=(v.abi, v.bytecode))
    try:
        d = deploy_pipeline_market(lnet.net, lnet.owner, lnet.suite.deployment)
        d.save(lnet.deployment_file)
        s = lnet.suite
        pm = s.pipelines
        assert pm is not None
        pkgs = [whole, *sliced.packages]
        ids = [
            publish_model(s, lnet.owner, name=p.name, price=ONE_VEIL, onnx_hash=p.commitments()["onnx_hash"],
                          zk=p).model_id
            for p in pkgs
        ]  # fmt: skip
        whole_pid = pm.register_pipeline(ids[:1], sender=lnet.owner)
        sliced_pid = pm.register_pipeline(ids[1:], sender=lnet.owner)
        served = [ServedModel(i, zk_package=p.manifest_digest) for i, p in zip(ids, pkgs, strict=True)]
        nodes = [lnet.start_node(f"n{i}", served, artifacts_dir=store.root) for i in range(4)]
        addrs = [n.account.address for n in nodes]
        client = Client(s, lnet.new_funded(1000), root / "client", deadline_s=3000, poll_interval=0.2)
        orch = PipelineOrchestrator(client, timeout_s=2400)
        orch.run(whole_pid, x, ONE_VEIL, nodes=[[addrs[0]]])  # warm-up: caches, first-job costs
        configs: list[tuple[str, int, list[list[str]]]] = [("whole, 1 node", whole_pid, [[addrs[0]]])]
        k = len(sliced.packages)
        configs += [
            (f"{k} slices, {n} node{'s' if n > 1 else ''}", sliced_pid, [[addrs[st % n]] for st in range(k)])
            for n in (1, 2, 4)
            if n <= k
        ]
        out: dict[str, Any] = {
            "model": model,
            "whole_logrows": whole.settings.logrows,
            "slice_logrows": list(sliced.logrows),
            "cuts": list(sliced.cuts),
            "rounds": rounds,
            "runs": {},
        }
        for _ in range(rounds):
            for label, pid, assign in configs:
                run = orch.run(pid, x, ONE_VEIL, nodes=assign)
                assert run.settled, (label, run.receipt)
                out["runs"].setdefault(label, []).append(
                    {"wall_s": run.seconds["settle"], "dispatch_s": run.seconds["dispatch"]}
                )
                print(
                    f"{label}: {run.seconds['settle']:.1f} s (all stages handed out at {run.seconds['dispatch']:.2f} s)"
                )
        out["median_wall_s"] = {k: float(np.median([r["wall_s"] for r in v])) for k, v in out["runs"].items()}
        out["load"] = "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())
        return out
    finally:
        lnet.stop()


def _nodes_table(r: dict[str, Any]) -> str:
    out = [
        f"Stage dispatch with node processes ({r['model']}: whole 2^{r['whole_logrows']} rows, "
        f"{len(r['slice_logrows'])} slices "
        f"{', '.join(f'2^{k}' for k in r['slice_logrows'])}): wall time of one pipeline job from `open_job` "
        f"to the settled receipt, median of {r['rounds']} jobs",
        "",
        "| configuration | wall s (median) | runs s |",
        "|---|---|---|",
    ]
    for label, runs in r["runs"].items():
        each = ", ".join(f"{x['wall_s']:.1f}" for x in runs)
        out.append(f"| {label} | {r['median_wall_s'][label]:.1f} | {each} |")
    out += ["", f"Measured by `bench/pipeline.py --nodes` on the shared 2-core box ({r['load']}); every node "
            "process has 1 prover process; the nodes share the box's 2 cores."]  # fmt: skip
    return "\n".join(out) + "\n"


def main_nodes(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="pipeline stage dispatch over node processes")
    ap.add_argument("--nodes", action="store_true")
    ap.add_argument("--model", choices=("cnn4", "mlp"), default="cnn4")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--no-write", action="store_true", help="print only (a smoke run)")
    a = ap.parse_args(argv)
    r = bench_nodes(a.model, a.rounds, a.slices)
    print(_nodes_table(r))
    if a.no_write:
        return
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    data["nodes"] = r
    RESULTS.write_text(json.dumps(data, indent=1))
    TABLE.write_text((_table(data["rows"], data["load"]) if data["rows"] else "") + "\n" + _nodes_table(r))


def main() -> None:
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    if "--nodes" in sys.argv[1:]:
        main_nodes(sys.argv[1:])
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from veilproof.models.examples import build_example
    from veilproof.zk.resources import estimate_prove_bytes

    root = Path(os.environ.get("VP_BENCH_DIR", tempfile.mkdtemp(prefix="vp-bench-pipeline-")))
    store_root = root / "store"
    ex = build_example("breast_cancer_mlp", root / "examples")
    cnn, cnn_cal, cnn_x = _cnn(root / "cnn4.onnx")
    rows = [
        bench_model(
            "breast_cancer_mlp", ex.onnx_path, ex.calibration_path, ex.x_test[0], 2, None, store_root
        ),
        # a box that fits 2^13 but not 2^14 rows: auto picks the fewest slices that each fit
        bench_model(
            "cnn4 (third-party shape)", cnn, cnn_cal, cnn_x[0], "auto", estimate_prove_bytes(13), store_root
        ),
    ]
    onchain_gas(rows, store_root)
    load = "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())
    for r in rows:
        r["whole"].pop("proof")
        r["sliced"].pop("proofs")
    # keep the "nodes" section measured by bench/pipeline.py --nodes
    nodes = json.loads(RESULTS.read_text()).get("nodes") if RESULTS.exists() else None
    RESULTS.write_text(
        json.dumps({"rows": rows, "load": load, **({"nodes": nodes} if nodes else {})}, indent=1)
    )
    TABLE.write_text(_table(rows, load) + ("\n" + _nodes_table(nodes) if nodes else ""))
    print(TABLE.read_text())


if __name__ == "__main__":
    main()
