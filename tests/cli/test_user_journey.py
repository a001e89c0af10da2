"""A user's whole path through the CLI, each command its own process, against a shared dev chain:
chain up → deploy → model build → model publish → transfer → node start → infer → jobs/models/nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "VEILPROOF_HOME": str(home),
        "VEILPROOF_PASSWORD": "pw",
        "VEILPROOF_SCRYPT_N": "1024",
    }
    env.pop("VEILPROOF_CHAIN_URL", None)
    return env


def _cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "veilproof.cli.main", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert r.returncode == 0, f"{args}: {r.stderr[-2000:]}"
    return r


def test_cli_user_journey(tmp_path: Path) -> None:
    from veilproof.models.examples import build_example

    owner_home, node_home, client_home = tmp_path / "owner", tmp_path / "node", tmp_path / "client"
    ex = build_example("breast_cancer_logreg", tmp_path / "ex")
    _cli(owner_home, "chain", "up", "--embedded", "--port", "0")  # the chain binds a free port itself
    url = json.loads((owner_home / "chain.json").read_text())["url"]
    node_proc = None
    try:
        _cli(owner_home, "deploy", "--json")
        for h in (node_home, client_home):  # everyone reads the same addresses file
            h.mkdir(parents=True, exist_ok=True)
            (h / "deployment.json").write_text((owner_home / "deployment.json").read_text())
        built = json.loads(
            _cli(
                owner_home,
                "model",
                "build",
                str(ex.onnx_path),
                "--calibration",
                str(ex.calibration_path),
                "--fhe",  # the same ONNX compiled for FHE too: client.zip + server.zip in the store
                "--json",
            ).stdout
        )
        # A second build of the same model is a cache hit with the same package.
        again = json.loads(
            _cli(
                owner_home,
                "model",
                "build",
                str(ex.onnx_path),
                "--calibration",
                str(ex.calibration_path),
                "--json",
            ).stdout
        )
        assert again["package"] == built["package"]
        assert built["fhe_agreement"] == 1.0 and built["fhe_max_abs_error"] < 0.25
        fhe_flags = ("--fhe-client", built["fhe_client_hash"], "--fhe-server", built["fhe_server_hash"])
        pub = json.loads(
            _cli(owner_home, "model", "publish", "--package", built["package"], *fhe_flags, "--name", "logreg",
                 "--price", "1", "--chain-url", url, "--json").stdout
        )  # fmt: skip
        model_id = pub["model_id"]
        # The same package again is refused without --force (it would be a second, identical model).
        again_pub = _cli(owner_home, "model", "publish", "--package", built["package"], *fhe_flags, "--name",
                         "logreg", "--chain-url", url, check=False)  # fmt: skip
        assert again_pub.returncode == 1 and f"model {model_id} ('logreg'" in again_pub.stderr
        assert "--force" in again_pub.stderr

        serve = f"{model_id}:zk={built['package']},fhe-server={built['fhe_server_hash']},fhe-client={built['fhe_client_hash']}"
        node_addr = json.loads(_cli(node_home, "account", "new", "node", "--json").stdout)["address"]
        client_addr = json.loads(_cli(client_home, "account", "new", "default", "--json").stdout)["address"]
        # The node fetches nothing: its home shares the owner's artifact store (a local store).
        (node_home / "artifacts").symlink_to(owner_home / "artifacts", target_is_directory=True)

        # An unfunded node account: one line naming the account and the transfer that fixes it.
        unfunded = _cli(node_home, "node", "start", "--model", serve,
                        "--account", "node", "--port", "0", "--chain-url", url, check=False)  # fmt: skip
        assert unfunded.returncode == 1 and "Traceback" not in unfunded.stderr, unfunded.stderr[-3000:]
        assert f"account 'node' ({node_addr})" in unfunded.stderr
        assert f"veilproof transfer {node_addr} --eth 1" in unfunded.stderr

        # the node's default stake is the default deploy's minimum, 2,000 VEIL
        _cli(owner_home, "transfer", node_addr, "--veil", "2050", "--eth", "10", "--chain-url", url)
        _cli(owner_home, "transfer", client_addr, "--veil", "10", "--eth", "10", "--chain-url", url)
        node_log = tmp_path / "node.log"
        with open(node_log, "w") as log:
            node_proc = subprocess.Popen(
                [sys.executable, "-m", "veilproof.cli.main", "node", "start", "--model", serve,
                 "--account", "node", "--port", "0", "--chain-url", url, "--json"],
                env=_env(node_home), stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
        assert node_proc.stdout is not None
        line = node_proc.stdout.readline()  # `node start --json` prints one line once it serves
        assert line, node_log.read_text()[-3000:]
        ready = json.loads(line)
        assert ready["address"] == node_addr and ready["pid"] == node_proc.pid
        assert httpx.get(f"{ready['endpoint']}/health", timeout=10).status_code == 200

        nodes = json.loads(
            _cli(client_home, "nodes", "--model", str(model_id), "--json", "--chain-url", url).stdout
        )
        assert nodes[0]["address"] == node_addr
        x = tmp_path / "x.json"
        x.write_text(json.dumps(np.asarray(ex.x_test[0]).tolist()))
        res = json.loads(
            _cli(
                client_home,
                "infer",
                "--model",
                str(model_id),
                "--input",
                str(x),
                "--eager",  # the deploy has a ReceiptMarket (pay-on-proof by default): this journey is escrow
                "--json",
                "--chain-url",
                url,
            ).stdout
        )
        assert res["status"] == "settled" and res["mode"] == "zk" and len(res["output"]) == 2
        jobs = json.loads(_cli(client_home, "jobs", "--json", "--chain-url", url).stdout)
        assert [j["status"] for j in jobs] == [3]
        models = json.loads(_cli(client_home, "models", "--json", "--chain-url", url).stdout)
        assert models[0]["name"] == "logreg" and models[0]["active"] is True
        # and the human-readable tables
        assert "logreg" in _cli(client_home, "models", "--chain-url", url).stdout
        assert "settled" in _cli(client_home, "jobs", "--chain-url", url).stdout
        assert (
            node_addr[:10] in _cli(client_home, "nodes", "--model", str(model_id), "--chain-url", url).stdout
        )

        # The node pulls its earnings: the price minus the default deploy's 5% protocol fee, minus the
        # owner's 10% default royalty of the rest (1 × 0.95 × 0.9).
        w = _cli(node_home, "withdraw", "--account", "node", "--chain-url", url).stdout
        assert "withdrew 0.855 VEIL" in w

        # An input of the wrong length is refused before any transaction: no job, no VEIL moved.
        short = tmp_path / "short.json"
        short.write_text(json.dumps(np.asarray(ex.x_test[0]).tolist()[:-1]))
        r = _cli(client_home, "infer", "--model", str(model_id), "--input", str(short), "--chain-url", url,
                 check=False)  # fmt: skip
        assert r.returncode == 1 and "x: expected 30 numbers" in r.stderr and "Traceback" not in r.stderr
        assert len(json.loads(_cli(client_home, "jobs", "--json", "--chain-url", url).stdout)) == 1

        # A bad input file is a clear error, not a traceback.
        bad = tmp_path / "bad.json"
        bad.write_text("not json")
        r = _cli(
            client_home,
            "infer",
            "--model",
            str(model_id),
            "--input",
            str(bad),
            "--chain-url",
            url,
            check=False,
        )
        assert r.returncode == 1 and "--input" in r.stderr and "Traceback" not in r.stderr

        # Private inference with the FHE form of the same model: the node sees only ciphertexts.
        priv = json.loads(_cli(client_home, "infer", "--model", str(model_id), "--input", str(x), "--private",
                               "--json", "--chain-url", url).stdout)  # fmt: skip
        assert priv["status"] == "settled" and priv["mode"] == "fhe"
        assert np.argmax(priv["output"]) == np.argmax(res["output"])
        assert np.allclose(priv["output"], res["output"], atol=0.25)

        # The node goes away while still registered: the job is paid, the node's reason is printed, and
        # `jobs` / `refund` get the escrow back once the deadline has passed.
        assert "stopped node" in _cli(node_home, "node", "stop").stdout
        node_proc.wait(timeout=30)
        node_proc = None
        assert "no node running" in _cli(node_home, "node", "stop").stdout
        r = _cli(client_home, "infer", "--model", str(model_id), "--input", str(x), "--eager", "--chain-url", url,
                 check=False)  # fmt: skip
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
        assert f"node {node_addr}:" in r.stderr and "veilproof refund" in r.stderr
        jobs = json.loads(_cli(client_home, "jobs", "--json", "--chain-url", url).stdout)
        stuck = jobs[-1]
        assert stuck["status_name"] == "open" and stuck["refundable_now"] is False
        assert "refund" in _cli(client_home, "jobs", "--chain-url", url).stdout
        early = _cli(client_home, "refund", str(stuck["job_id"]), "--chain-url", url, check=False)
        assert early.returncode == 1 and "can be refunded after" in early.stderr
        from veilproof.chain import connect

        net = connect(url)
        net.advance_to(stuck["deadline"] + 1)
        veil_before = json.loads(
            _cli(client_home, "status", "--json", "--account", "default", "--chain-url", url).stdout
        )["account"]["veil"]
        done = _cli(client_home, "refund", str(stuck["job_id"]), "--chain-url", url).stdout
        assert f"job {stuck['job_id']} refunded: 1 VEIL" in done
        veil_after = json.loads(
            _cli(client_home, "status", "--json", "--account", "default", "--chain-url", url).stdout
        )["account"]["veil"]
        assert veil_after == veil_before + 1
        assert json.loads(_cli(client_home, "jobs", "--json", "--chain-url", url).stdout)[-1][
            "status_name"
        ] == ("refunded")
    finally:
        if node_proc is not None:
            node_proc.terminate()
            node_proc.wait(timeout=30)
        _cli(owner_home, "chain", "down", check=False)
