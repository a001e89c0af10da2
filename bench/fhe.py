"""FHE benchmark: per model kind, the cost of every step of private inference through veilproof's
client/server API, next to Concrete ML's own in-process ``predict_proba(fhe="execute")`` and clear
quantized inference (``fhe="disable"``). Writes bench/results/fhe.json and prints a rich table.

    .venv/bin/python bench/fhe.py                  # all kinds
    .venv/bin/python bench/fhe.py --kinds logreg xgb --n 3
    .venv/bin/python bench/fhe.py --node-only --reps 5   # only: node job vs plain Concrete run

The node table: paid FHE jobs through a real node process on anvil next to Concrete's ``Server.run``
on the same circuit in the same run, with the node's per-phase table (``GET /jobs/{id}`` timings);
written to bench/results/fhe_node.json.

"Transport overhead" = (encrypt + isolated server run + decrypt) / (in-process execute), i.e. what the
serialization, the process isolation and the client/server split cost over Concrete ML's one-process
path. The ~1 MB-scale numbers that matter for the network are the evaluation-key sizes (uploaded once per
client and model) and the per-job ciphertext sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "fhe.json"
NODE_RESULTS = Path(__file__).parent / "results" / "fhe_node.json"
DEFAULT_N = {"logreg": 20, "xgb": 3, "nn": 3}


def _timed(fn, *a, **k):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def bench_kind(kind: str, n: int, root: Path) -> dict[str, Any]:
    from veilproof.artifacts import ArtifactStore
    from veilproof.fhe import FheClient, FheServer
    from veilproof.models.fhe_examples import build_bundle_with_model, load_dataset

    data = load_dataset()
    (bundle, compiled), t_build = _timed(build_bundle_with_model, kind, ArtifactStore(root / "store"), data)
    client, t_keygen = _timed(
        FheClient, bundle.client_zip_path, root / "keys" / kind, expected_client_hash=bundle.client_zip_hash
    )
    ek, t_ek = _timed(client.evaluation_keys)
    server, t_server_start = _timed(FheServer, bundle.server_zip_path, bundle.server_zip_hash)
    rows = data.x_test[:n]
    enc, run, dec, ct_in, ct_out, agree = [], [], [], 0, 0, 0
    try:
        for i, x in enumerate(rows):
            ct, t = _timed(client.encrypt, x)
            enc.append(t)
            out, t = _timed(server.run, ct, ek)
            run.append(t)
            probs, t = _timed(client.decrypt, out)
            dec.append(t)
            ct_in, ct_out = len(ct), len(out)
            agree += int(probs.argmax() == compiled.predict_proba(rows[i : i + 1], "disable").argmax())
    finally:
        server.close()
    # Concrete ML in-process reference. The first execute call generates keys; keep it out of the timing.
    _timed(compiled.predict_proba, rows[:1], "execute")
    cml_exec = [_timed(compiled.predict_proba, rows[i : i + 1], "execute")[1] for i in range(n)]
    cml_clear = [_timed(compiled.predict_proba, rows[i : i + 1], "disable")[1] for i in range(n)]

    def med(v: list[float]) -> float:
        return float(statistics.median(v))

    warm_run = med(run[1:]) if len(run) > 1 else run[0]
    pipeline = med(enc) + warm_run + med(dec)
    return {
        "kind": kind,
        "n_samples": n,
        "build_s": t_build,
        "keygen_s": t_keygen,
        "keyset_file_bytes": client.keyset_path.stat().st_size,
        "eval_keys_bytes": len(ek),
        "eval_keys_serialize_s": t_ek,
        "server_start_s": t_server_start,
        "encrypt_s": med(enc),
        "server_run_first_s": run[0],
        "server_run_s": warm_run,
        "decrypt_s": med(dec),
        "ct_in_bytes": ct_in,
        "ct_out_bytes": ct_out,
        "cml_execute_s": med(cml_exec),
        "cml_clear_s": med(cml_clear),
        "transport_overhead_ratio": pipeline / med(cml_exec),
        "fhe_vs_clear_slowdown": med(cml_exec) / max(med(cml_clear), 1e-9),
        "fhe_clear_label_agreement": agree / n,
        "float_accuracy": bundle.accuracy.float_accuracy,
        "quantized_accuracy": bundle.accuracy.quantized_accuracy,
        "float_quantized_agreement": bundle.accuracy.agreement,
    }


def node_overhead(kinds: list[str], reps: int) -> list[dict[str, Any]]:
    """Paid FHE jobs through a node process vs Concrete's plain ``Server.run`` on the same circuit,
    keys already deserialized (what the node's worker holds after a client's first job)."""
    from concrete import fhe
    from node_overhead import FHE_PHASES, measure, now, table, world

    from veilproof.artifacts import ArtifactStore
    from veilproof.chain.deploy import ONE_VEIL
    from veilproof.client import Client
    from veilproof.client.node_api import NodeApi
    from veilproof.client.publish import publish_model
    from veilproof.fhe import FheClient
    from veilproof.models.fhe_examples import build_bundle_with_model, load_dataset
    from veilproof.node.config import ServedModel

    data = load_dataset()
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="vp-bench-fhe-node-") as tmp,
        world(Path(tmp), verifier=False) as w,
    ):
        root = Path(tmp)
        store = ArtifactStore(root / "store")
        bundles = {k: build_bundle_with_model(k, store, data)[0] for k in kinds}
        ids, served = {}, []
        for k, b in bundles.items():
            pub = publish_model(
                w.lnet.suite, w.lnet.owner, name=f"fhe-{k}", price=ONE_VEIL, onnx_hash=b.server_zip_hash,
                fhe_client_hash=b.client_zip_hash, fhe_server_hash=b.server_zip_hash,
            )  # fmt: skip
            ids[k] = pub.model_id
            served.append(
                ServedModel(pub.model_id, fhe_server=b.server_zip_hash, fhe_client=b.client_zip_hash)
            )
        node = w.lnet.start_node("bench-fhe", served, artifacts_dir=store.root, stake_veil=200)
        client = Client(w.lnet.suite, w.lnet.new_funded(1000), root / "client", deadline_s=1800,
                        poll_interval=0.005)  # fmt: skip
        api = NodeApi(node.endpoint)
        for k in kinds:
            b = bundles[k]
            x = data.x_test[0]
            fc = FheClient(b.client_zip_path, root / "plain-keys" / k, expected_client_hash=b.client_zip_hash)
            ct = fc.encrypt(x)
            server = fhe.Server.load(b.server_zip_path)
            keys = fhe.EvaluationKeys.deserialize(fc.evaluation_keys())

            def engine(server: Any = server, keys: Any = keys, ct: bytes = ct) -> float:
                t = now()
                server.run(fhe.Value.deserialize(ct), evaluation_keys=keys).serialize()
                return now() - t

            def job(k: str = k, x: Any = x) -> tuple[Any, float]:
                res = client.infer(ids[k], x, private=True, node=node.account.address)
                rep = api.job(res.job_id)
                assert rep.timings is not None and rep.state == "submitted", rep
                return rep.timings, res.timings["node"]

            try:
                rows.append({"model": k, **measure(job, engine, reps, "fhe")})
            except Exception as e:  # report, do not abort the table
                rows.append({"model": k, "error": f"{type(e).__name__}: {e}"[:300]})
        api.close()
        client.close()
    table(
        "FHE node job vs plain Concrete Server.run (keys deserialized), anvil", rows, FHE_PHASES, "concrete"
    )
    return rows


def _mb(b: int) -> str:
    return f"{b / 1e6:.2f} MB" if b >= 1e5 else f"{b / 1e3:.1f} kB"


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="+", default=["logreg", "xgb", "nn"])
    ap.add_argument("--n", type=int, default=None, help="samples per kind (default: 20 logreg, 3 others)")
    ap.add_argument("--node-only", action="store_true", help="only the node-overhead table")
    ap.add_argument("--no-node", action="store_true", help="skip the node-overhead table")
    ap.add_argument("--reps", type=int, default=5, help="node-overhead jobs per kind (the 1st uploads keys)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if not args.no_node:
        load = os.getloadavg()
        node_rows = node_overhead(args.kinds, args.reps)
        NODE_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        NODE_RESULTS.write_text(json.dumps({"loadavg_before": load, "rows": node_rows}, indent=1))
    if args.node_only:
        return
    console = Console(width=170)
    results = []
    with tempfile.TemporaryDirectory(prefix="veilproof-bench-fhe-") as tmp:
        for kind in args.kinds:
            console.print(f"[bold]{kind}[/bold] ...")
            results.append(bench_kind(kind, args.n or DEFAULT_N[kind], Path(tmp)))

    t = Table(title="veilproof FHE (median per sample; 2-core CPU)")
    cols = [
        "kind",
        "keygen",
        "eval keys",
        "encrypt",
        "server run",
        "decrypt",
        "ct in/out",
        "CML execute",
        "CML clear",
        "overhead",
        "acc float/quant",
    ]
    for c in cols:
        t.add_column(c, justify="right")
    for r in results:
        t.add_row(
            r["kind"],
            f"{r['keygen_s']:.2f} s",
            _mb(r["eval_keys_bytes"]),
            f"{r['encrypt_s'] * 1e3:.1f} ms",
            f"{r['server_run_s']:.3f} s",
            f"{r['decrypt_s'] * 1e3:.1f} ms",
            f"{_mb(r['ct_in_bytes'])} / {_mb(r['ct_out_bytes'])}",
            f"{r['cml_execute_s']:.3f} s",
            f"{r['cml_clear_s'] * 1e3:.2f} ms",
            f"{r['transport_overhead_ratio']:.2f}x",
            f"{r['float_accuracy']:.3f}/{r['quantized_accuracy']:.3f}",
        )
    console.print(t)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "note": "server run = isolated worker process, warm (keys cached); first run includes key upload",
        "results": results,
    }
    RESULTS.write_text(json.dumps(payload, indent=2))
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
