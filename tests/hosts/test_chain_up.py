"""``veilproof chain up --host ADDR``: a dev chain other machines can use (issue #21).

Before: ``chain up`` bound 127.0.0.1 only, so nodes and clients on other machines could not share a
test chain started by the CLI. The test puts the chain on this machine's bridge address and calls
it from another host; the embedded chain (loopback only, by its Host check) is refused a --host.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from netns import HostNetwork
from typer.testing import CliRunner

from veilproof.cli.main import app

RPC_CALL = (
    "import httpx,sys; r = httpx.post(sys.argv[1], json={'jsonrpc': '2.0', 'id': 1, 'method': 'eth_chainId', "
    "'params': []}, timeout=5); print(r.json()['result'])"
)


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args), env={"VEILPROOF_HOME": str(home), "VEILPROOF_CHAIN_URL": None})
    return r.exit_code, r.stdout, r.stderr


def test_chain_up_on_a_network_address_is_reachable_from_another_host(tmp_path: Path) -> None:
    hn = HostNetwork.create(["peer"], tmp_path / "hosts")
    home = tmp_path / "home"
    try:
        code, out, err = _cli(home, "chain", "up", "--host", hn.bridge_ip, "--port", "0", "--json")
        assert code == 0, err
        url = json.loads(out)["url"]
        assert url.startswith(f"http://{hn.bridge_ip}:")
        r = hn.run("peer", [sys.executable, "-c", RPC_CALL, url], timeout=60)
        assert r.returncode == 0 and r.stdout.strip().startswith("0x"), r.stderr
    finally:
        _cli(home, "chain", "down")
        hn.close()


def test_embedded_chain_refuses_a_network_host(tmp_path: Path) -> None:
    code, _out, err = _cli(tmp_path, "chain", "up", "--embedded", "--host", "10.213.0.1", "--port", "0")
    assert code == 1
    assert "embedded chain serves 127.0.0.1 only" in err
    assert not (tmp_path / "chain.json").exists()


def test_chain_up_refuses_a_wildcard_host(tmp_path: Path) -> None:
    code, _out, err = _cli(tmp_path, "chain", "up", "--host", "0.0.0.0", "--port", "0")
    assert code == 1 and "not a wildcard" in err
