"""ZK benchmark: per example model, the cost of every step, next to plain onnxruntime and plain EZKL;
then what the node adds to EZKL (paid jobs through a real node process on anvil vs plain
``gen_witness`` + ``prove`` on the same input, with the node's per-phase table).

Each model runs in its own subprocess so that peak RSS is per model. Writes bench/results/zk.json and
bench/results/zk_node.json.

    .venv/bin/python bench/zk.py                 # the three example models, then the node table
    .venv/bin/python bench/zk.py --node-only --reps 5    # only the node-overhead table
    .venv/bin/python bench/zk.py --scaling 64 256 1024   # MLP 30->H->2: where does EZKL stop?
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results" / "zk.json"
NODE_RESULTS = Path(__file__).parent / "results" / "zk_node.json"


def _timed(fn, *a, **k):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def _onchain_gas(pkg, proof) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from veilproof.chain import connect
    from veilproof.zk import evm

    net = connect()
    (a,) = net.new_accounts(1)
    ver = evm.compile_reusable_verifier()
    v = net.deploy_bytecode(ver.abi, ver.bytecode, sender=a, label="verifier")
    models = net.deploy("ModelRegistry", sender=a)
    z = b"\x00" * 32
    net.transact(models.functions.register_model("bench", 1, 0, b"\x01" * 32, [], [], z), sender=a)
    digest = bytes.fromhex(pkg.commitments()["zk_vka_digest"][2:])
    net.transact(models.functions.set_zk_commitment(1, b"\x02" * 32, digest, b"\x03" * 32), sender=a)
    ad = net.deploy("ZkVerifierAdapter", models.address, v.address, sender=a)
    net.transact(ad.functions.register_model(1, pkg.vka_words), sender=a)
    pb, inst = evm.calldata(proof)
    assert net.call(ad.functions.verify(1, pb, inst)) is True
    direct = net.transact(v.functions.verifyProof(pb, inst, pkg.vka_words), sender=a).gas_used
    adapter = net.transact(ad.functions.verify(1, pb, inst), sender=a).gas_used
    return direct, adapter


def bench_one(
    onnx_path: Path,
    cal_path: Path,
    x_test: np.ndarray,
    y_test: np.ndarray | None,
    name: str,
    gas: bool = True,
) -> dict[str, Any]:
    import ezkl
    import onnxruntime as ort

    from veilproof.artifacts import ArtifactStore
    from veilproof.models import build_zk_package, circuit_outputs, prove, verify
    from veilproof.zk.instances import input_commitment

    warnings.simplefilter("ignore")
    r: dict[str, Any] = {"model": name}
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name
    _, t = _timed(lambda: [sess.run(None, {iname: x_test[i : i + 1]}) for i in range(20)])
    r["onnxruntime_ms"] = 1000 * t / 20
    with tempfile.TemporaryDirectory(prefix="vp-bench-") as td:
        store = ArtifactStore(Path(td) / "store")
        pkg, r["build_s"] = _timed(build_zk_package, onnx_path, cal_path, store, name=name)
        r["logrows"] = pkg.settings.logrows
        r["num_rows"] = pkg.settings.num_rows
        r["scale"] = pkg.settings.input_scale
        _, r["cached_build_s"] = _timed(build_zk_package, onnx_path, cal_path, store, name=name)
        x = x_test[:1]
        res, r["prove_s"] = _timed(prove, pkg, x)  # includes witness, prove and the mandatory verify
        _, r["verify_s"] = _timed(verify, pkg, res.proof, res.input_commitment)
        _, r["commitment_ms"] = _timed(input_commitment, pkg.settings, x)
        r["commitment_ms"] *= 1000
        # Plain EZKL on the same files: our overhead over the raw calls.
        f = pkg.files
        wd = Path(td)
        (wd / "in.json").write_text(json.dumps({"input_data": [x.reshape(-1).astype(float).tolist()]}))
        t0 = time.perf_counter()
        ezkl.gen_witness(str(wd / "in.json"), str(f.compiled), str(wd / "w.json"), str(f.vk), str(f.srs))
        ezkl.prove(str(wd / "w.json"), str(f.compiled), str(f.pk), str(wd / "p.json"), str(f.srs))
        ezkl.verify(str(wd / "p.json"), str(f.settings), str(f.vk), str(f.srs))
        r["plain_ezkl_prove_verify_s"] = time.perf_counter() - t0
        r["proof_bytes"] = len(res.proof_bytes)
        r["pk_bytes"] = pkg.path("pk").stat().st_size
        r["vk_bytes"] = pkg.path("vk").stat().st_size
        r["srs_bytes"] = pkg.path("srs").stat().st_size
        r["vka_words"] = len(pkg.vka_words)
        r["outputs"] = res.outputs
        if y_test is not None:
            n = min(len(x_test), 100)
            q = [int(np.argmax(circuit_outputs(pkg, x_test[i]))) for i in range(n)]
            fl = [int(np.argmax(sess.run(None, {iname: x_test[i : i + 1]})[0])) for i in range(n)]
            r["float_acc"] = float(np.mean(np.array(fl) == y_test[:n]))
            r["circuit_acc"] = float(np.mean(np.array(q) == y_test[:n]))
            r["acc_samples"] = n
        if gas:
            r["gas_verifyProof_direct"], r["gas_adapter_verify"] = _onchain_gas(pkg, res.proof)
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return r


def _example(name: str, out: Path) -> dict[str, Any]:
    from veilproof.models.examples import build_example

    ex = build_example(name, out)
    return bench_one(ex.onnx_path, ex.calibration_path, ex.x_test, ex.y_test, name)


def _scaling(hidden: int, out: Path) -> dict[str, Any]:
    import torch

    from veilproof.models.examples import export_onnx

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(30, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)).eval()
    x = np.random.default_rng(0).standard_normal((64, 30)).astype(np.float32)
    onnx_path = export_onnx(m, x, out / f"mlp-h{hidden}.onnx")
    cal = out / f"mlp-h{hidden}.npy"
    np.save(cal, x[:16])
    r = bench_one(onnx_path, cal, x[16:], None, f"mlp 30-{hidden}-2", gas=False)
    r["params"] = sum(p.numel() for p in m.parameters())
    return r


def _child(kind: str, arg: str) -> None:
    out = Path(tempfile.gettempdir()) / "vp-bench-models"
    out.mkdir(exist_ok=True)
    try:
        r = _example(arg, out) if kind == "example" else _scaling(int(arg), out)
    except Exception as e:  # report, do not abort the whole table
        r = {"model": f"{kind}:{arg}", "error": f"{type(e).__name__}: {e}"[:300]}
    print("RESULT " + json.dumps(r))


def _run(kind: str, arg: str, timeout: float) -> dict[str, Any]:
    try:
        p = subprocess.run(
            [sys.executable, __file__, "--child", kind, arg], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"model": f"{kind}:{arg}", "error": f"timeout after {timeout:.0f}s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"model": f"{kind}:{arg}", "error": f"exit {p.returncode} (killed? OOM?) {p.stderr[-300:]}"}


def _table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    cols = [
        ("model", "model", "{}"),
        ("logrows", "k", "{}"),
        ("build_s", "build s", "{:.1f}"),
        ("prove_s", "prove+verify s", "{:.2f}"),
        ("plain_ezkl_prove_verify_s", "plain ezkl s", "{:.2f}"),
        ("verify_s", "verify s", "{:.3f}"),
        ("onnxruntime_ms", "ort ms", "{:.3f}"),
        ("gas_adapter_verify", "gas adapter", "{:,}"),
        ("gas_verifyProof_direct", "gas direct", "{:,}"),
        ("proof_bytes", "proof B", "{:,}"),
        ("pk_bytes", "pk MB", "{}"),
        ("peak_rss_mb", "RSS MB", "{:.0f}"),
        ("float_acc", "float acc", "{:.3f}"),
        ("circuit_acc", "circuit acc", "{:.3f}"),
        ("error", "error", "{}"),
    ]
    t = Table(title="veilproof ZK (EZKL 23.0.5, dev SRS, 2 cores)")
    for _, h, _ in cols:
        t.add_column(h)
    for r in rows:
        cells = []
        for k, _, fmt in cols:
            v = r.get(k)
            if v is None:
                cells.append("")
            elif k == "pk_bytes":
                cells.append(f"{v / 2**20:.0f}")
            else:
                cells.append(fmt.format(v))
        t.add_row(*cells)
    Console().print(t)


def node_overhead(names: list[str], reps: int, cnn_reps: int) -> list[dict[str, Any]]:
    """Paid ZK jobs through a node process vs plain EZKL (witness + prove) on the same input."""
    from node_overhead import ZK_PHASES, measure, now, table, world

    from veilproof.artifacts import ArtifactStore
    from veilproof.chain.deploy import ONE_VEIL
    from veilproof.client import Client
    from veilproof.client.node_api import NodeApi
    from veilproof.client.publish import publish_model
    from veilproof.models import build_zk_package
    from veilproof.models.examples import build_example
    from veilproof.node.config import ServedModel
    from veilproof.zk.settings import write_input_json

    warnings.simplefilter("ignore")
    cache = Path(tempfile.gettempdir()) / "vp-bench-models"
    cache.mkdir(exist_ok=True)
    store = ArtifactStore(cache / "store")
    built = {}
    for n in names:
        ex = build_example(n, cache)
        built[n] = (ex, build_zk_package(ex.onnx_path, ex.calibration_path, store, name=n))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vp-bench-node-") as td, world(Path(td), verifier=True) as w:
        ids, served = {}, []
        for n, (_, pkg) in built.items():
            pub = publish_model(w.lnet.suite, w.lnet.owner, name=n, price=ONE_VEIL,
                                onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg)  # fmt: skip
            ids[n] = pub.model_id
            served.append(ServedModel(pub.model_id, zk_package=pkg.manifest_digest))
        node = w.lnet.start_node("bench", served, artifacts_dir=store.root, stake_veil=200)
        time.sleep(5)  # the node's provers load the packages in the background; a live node has long done so
        client = Client(w.lnet.suite, w.lnet.new_funded(1000), Path(td) / "client", deadline_s=1800,
                        poll_interval=0.005)  # fmt: skip
        api = NodeApi(node.endpoint)
        wd = Path(td) / "plain"
        wd.mkdir()
        for n in names:
            ex, pkg = built[n]
            x = np.asarray(ex.x_test[0], dtype=np.float32).reshape(pkg.input_shape)
            f = pkg.files
            write_input_json(x, wd / "in.json")

            def job(n: str = n, x: np.ndarray = x) -> tuple[Any, float]:
                res = client.infer(ids[n], x.ravel(), node=node.account.address)
                rep = api.job(res.job_id)
                assert rep.timings is not None and rep.state == "submitted", rep
                return rep.timings, res.timings["node"]

            def order(n: str = n, x: np.ndarray = x) -> tuple[Any, float]:
                res = client.infer(ids[n], x.ravel(), node=node.account.address, eager=False)
                rep = api.order(res.tx_hashes["order"])
                assert rep.timings is not None and rep.delivery is not None, rep
                return rep.timings, res.timings["node"]

            def engine(f: Any = f) -> float:
                import ezkl

                t = now()
                ezkl.gen_witness(
                    str(wd / "in.json"), str(f.compiled), str(wd / "w.json"), str(f.vk), str(f.srs)
                )
                ezkl.prove(str(wd / "w.json"), str(f.compiled), str(f.pk), str(wd / "p.json"), str(f.srs))
                return now() - t

            # Both ways a ZK job is paid: eager (JobMarket: start_job, the pre-sign eth_call of the
            # verifier, the submit transaction are the node's) and pay-on-proof (ReceiptMarket, the CLI's
            # default: the node delivers a signed proof, the chain sees none; settling is batched later).
            for settlement, run in (("eager", job), ("pay-on-proof", order)):
                try:
                    r = measure(run, engine, cnn_reps if "cnn" in n else reps, "zk")
                    rows.append({"model": n, "settlement": settlement, "logrows": pkg.settings.logrows, **r})
                except Exception as e:  # report, do not abort the table
                    rows.append(
                        {"model": n, "settlement": settlement, "error": f"{type(e).__name__}: {e}"[:300]}
                    )
        api.close()
        client.close()
    table("node job vs plain EZKL (gen_witness + prove), same input, anvil", rows, ZK_PHASES, "ezkl")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("KIND", "ARG"))
    ap.add_argument("--scaling", nargs="*", type=int, default=None, help="MLP hidden widths to try")
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--node-only", action="store_true", help="only the node-overhead table")
    ap.add_argument("--no-node", action="store_true", help="skip the node-overhead table")
    ap.add_argument("--reps", type=int, default=6, help="node-overhead jobs per small model (1st is cold)")
    ap.add_argument("--cnn-reps", type=int, default=4, help="node-overhead jobs for the CNN")
    a = ap.parse_args()
    if a.child:
        _child(*a.child)
        return
    from veilproof.models.examples import EXAMPLES

    names = list(a.models if a.models is not None else EXAMPLES)
    if not a.no_node:
        load = os.getloadavg()
        node_rows = node_overhead(names, a.reps, a.cnn_reps)
        NODE_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        NODE_RESULTS.write_text(json.dumps({"loadavg_before": load, "rows": node_rows}, indent=1))
    if a.node_only:
        return
    rows = [_run("example", m, a.timeout) for m in (a.models if a.models is not None else EXAMPLES)]
    for h in a.scaling or []:
        rows.append(_run("scaling", str(h), a.timeout))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    old_rows = {r["model"]: r for r in old.get("rows", [])}
    old_rows.update({r["model"]: r for r in rows})
    RESULTS.write_text(json.dumps({"rows": list(old_rows.values())}, indent=1))
    _table(rows)


if __name__ == "__main__":
    main()
