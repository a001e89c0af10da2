"""`veilproof chain up && veilproof deploy && veilproof status` on both kinds of dev chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_cli


@pytest.mark.parametrize("kind", ["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def test_chain_up_deploy_status(tmp_path: Path, kind: str) -> None:
    up = run_cli(tmp_path, "chain", "up", "--port", "0", *(["--embedded"] if kind == "embedded" else []))
    assert up.returncode == 0, up.stderr
    try:
        dep = run_cli(tmp_path, "deploy", "--json")
        assert dep.returncode == 0, dep.stderr
        addrs = json.loads(dep.stdout)
        st = run_cli(tmp_path, "status", "--json", "--account", "default")
        assert st.returncode == 0, st.stderr
        info = json.loads(st.stdout)
        assert all(c["code"] for c in info["contracts"].values())
        assert info["contracts"]["market"]["address"] == addrs["market"]
        assert info["veil_supply"] == 1_000_000
        assert info["account"]["veil"] == 1_000_000
        assert info["jobs"] == 0
        # FHE results are never without an arbiter: the default deploy wires FheQuorum in (#12)
        assert info["fhe_arbiter"] == addrs["extra"]["fhe_quorum"] != "0x" + "00" * 20
        # pay-on-proof (#14) is deployed too, with the production parameters, and clients find it
        assert info["contracts"]["receipt_market"] == {
            "address": addrs["extra"]["receipt_market"],
            "code": True,
        }
        assert addrs["extra"]["pipeline_market"] != "0x" + "00" * 20  # on by default with --zk
        from veilproof.chain import connect
        from veilproof.chain.deploy import Deployment, ReceiptParams
        from veilproof.chain.suite import Suite

        net = connect(json.loads((tmp_path / "chain.json").read_text())["url"])
        rm = Suite.attach(net, Deployment.load(tmp_path / "deployment.json")).receipts
        assert rm is not None and rm.address == addrs["extra"]["receipt_market"]
        assert (
            rm.param("fee_bps") == ReceiptParams().fee_bps
            and rm.param("slash_amount") == ReceiptParams().slash_amount
        )
    finally:
        down = run_cli(tmp_path, "chain", "down")
    assert "stopped" in down.stdout


def test_status_without_deployment_is_a_clear_error(tmp_path: Path) -> None:
    r = run_cli(tmp_path, "status")
    assert r.returncode == 1
    assert "run `veilproof deploy` first" in r.stderr


def test_deploy_on_embedded_without_chain_warns_and_writes_nothing(tmp_path: Path) -> None:
    r = run_cli(tmp_path, "deploy")
    assert r.returncode == 0, r.stderr
    assert "vanish" in r.stderr
    assert not (tmp_path / "deployment.json").exists()


def test_deploy_without_zk_leaves_out_the_zk_markets(tmp_path: Path) -> None:
    """`deploy --no-zk` alone deploys the core suite (the ZK markets follow --zk by default); asking for a
    ZK market without the verifier is the one clear error, and nothing is written then."""
    up = run_cli(tmp_path, "chain", "up", "--port", "0", "--embedded")
    assert up.returncode == 0, up.stderr
    try:
        bad = run_cli(tmp_path, "deploy", "--no-zk", "--receipts")
        assert bad.returncode == 1 and "--receipts needs --zk" in bad.stderr
        assert not (tmp_path / "deployment.json").exists()
        dep = run_cli(tmp_path, "deploy", "--no-zk", "--json")
        assert dep.returncode == 0, dep.stderr
        extra = json.loads(dep.stdout)["extra"]
        assert "receipt_market" not in extra and "pipeline_market" not in extra and "zk_adapter" not in extra
    finally:
        run_cli(tmp_path, "chain", "down")
