"""What a node announces on chain is where other machines reach it (issue #21).

Before: ``node start --host 0.0.0.0`` (listen on every interface, the normal setting on a server)
announced ``http://0.0.0.0:8600`` on chain — an address no other machine can connect to — and the CLI
had no way to announce a public URL. Now the CLI takes ``--public-url``, and a wildcard listen
address without one is refused before anything is staked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from veilproof.cli.main import app
from veilproof.errors import ConfigError
from veilproof.node.config import NodeConfig, announced_endpoint


def _cfg(**kw: object) -> NodeConfig:
    return NodeConfig(home=Path("/nonexistent"), chain_url="http://10.0.0.1:8545",
                      deployment_file=Path("/nonexistent/d.json"), account_name="node", models=[], **kw)  # type: ignore[arg-type]  # fmt: skip


def test_a_specific_listen_address_is_announced_as_is() -> None:
    assert announced_endpoint(_cfg(host="10.213.7.3", port=8600)) == "http://10.213.7.3:8600"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", ""])
def test_a_wildcard_listen_address_needs_a_public_url(host: str) -> None:
    with pytest.raises(ConfigError, match="--public-url"):
        announced_endpoint(_cfg(host=host, port=8600))
    cfg = _cfg(host=host, port=8600, public_url="https://node1.example.org:8600/")
    assert announced_endpoint(cfg) == "https://node1.example.org:8600"


@pytest.mark.parametrize("url", ["node1.example.org:8600", "ftp://x:1", "http://", "http://0.0.0.0:8600"])
def test_a_public_url_must_be_reachable_http(url: str) -> None:
    with pytest.raises(ConfigError, match="public"):
        announced_endpoint(_cfg(host="0.0.0.0", port=8600, public_url=url))


def test_cli_refuses_a_wildcard_host_without_public_url_before_staking(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app,
        ["node", "start", "--model", "1:zk=ab", "--host", "0.0.0.0", "--chain-url", "http://10.0.0.1:1"],
        env={"VEILPROOF_HOME": str(tmp_path), "VEILPROOF_PASSWORD": "pw"},
    )
    assert r.exit_code == 1, r.output
    assert "--public-url" in r.stderr and "0.0.0.0" in r.stderr
    assert not (tmp_path / "node.pid").exists()


def test_cli_takes_a_public_url() -> None:
    r = CliRunner().invoke(app, ["node", "start", "--help"])
    assert "--public-url" in r.stdout
