"""`veilproof explorer` as a user runs it: refuses a wrong deployment in one line, and serves a network
deployed on anvil (pages from its index) until interrupted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_run import run_cli


def test_refuses_a_deployment_of_another_chain(tmp_path: Path) -> None:
    (tmp_path / "deployment.json").write_text(
        json.dumps({"chain_id": 1, "token": "0x" + "11" * 20, "models": "0x" + "22" * 20,
                    "nodes": "0x" + "33" * 20, "market": "0x" + "44" * 20, "owner": "0x" + "55" * 20})
    )  # fmt: skip
    r = run_cli(tmp_path, "explorer", "--rpc", "embedded")
    assert r.returncode == 1
    assert "is for chain 1" in r.stderr and "--deployment" in r.stderr
    assert "Traceback" not in r.stderr


def test_refuses_a_missing_deployment(tmp_path: Path) -> None:
    r = run_cli(tmp_path, "explorer", "--rpc", "embedded")
    assert r.returncode == 1 and "no deployment at" in r.stderr


@pytest.mark.anvil
def test_serves_a_network_on_anvil(tmp_path: Path, anvil_url: str) -> None:
    from veilproof.chain import connect
    from veilproof.chain.deploy import SuiteParams
    from veilproof.incentives.deploy import deploy_network

    net = connect(anvil_url)
    owner = net.new_accounts(1)[0]
    d = deploy_network(net, owner, SuiteParams.dev())
    d.save(tmp_path / "deployment.json")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VEILPROOF_HOME": str(tmp_path)}
    env.pop("VEILPROOF_CHAIN_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "veilproof.cli.main", "explorer", "--rpc", anvil_url, "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(url + "/healthz", timeout=5).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "explorer did not come up"
                time.sleep(0.5)
        assert health["chain_id"] == d.chain_id and health["last_block"] >= 0
        page = httpx.get(url + "/", timeout=30).text
        assert "Network overview" in page
        assert (tmp_path / "explorer" / f"index-{d.chain_id}.db").is_file()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
