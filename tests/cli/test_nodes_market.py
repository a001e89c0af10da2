"""`veilproof node offer` sets a node's own price; `veilproof nodes --model ID` lists the offers (#14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_cli

from veilproof.chain import connect
from veilproof.chain.deploy import Deployment
from veilproof.chain.keystore import Keystore
from veilproof.chain.suite import Suite
from veilproof.cli._common import paths, resolve_chain_url

ONE = 10**18


@pytest.mark.slow  # ~23 s: a chain up, a deploy and seven CLI processes
def test_node_offer_and_nodes_listing(tmp_path: Path) -> None:
    up = run_cli(tmp_path, "chain", "up", "--port", "0", "--embedded")
    assert up.returncode == 0, up.stderr
    try:
        assert run_cli(tmp_path, "deploy", "--json").returncode == 0
        node_addr = json.loads(run_cli(tmp_path, "account", "new", "node", "--json").stdout)["address"]
        url = resolve_chain_url(paths(str(tmp_path)), None)
        net = connect(url)
        suite = Suite.attach(net, Deployment.load(tmp_path / "deployment.json"))
        keys = Keystore(tmp_path / "keystore")
        default, node = keys.load("default", "pw"), keys.load("node", "pw")
        (author, other) = net.new_accounts(2)
        net.fund(node.address)
        suite.models.register_model("m", ONE, 1500, b"\x01" * 32, [], [], b"\x02" * 32, sender=author)
        mid = suite.models.model_count()
        stake = suite.nodes.min_stake()
        for n in (node, other):
            suite.token.transfer(n.address, stake, sender=default)
            suite.nodes.register(
                f"http://127.0.0.1:9/{n.address[:6]}", b"\x02" + b"\x07" * 32, [mid], sender=n
            )
            suite.token.approve(suite.nodes.address, stake, sender=n)
            suite.nodes.stake(stake, sender=n)

        r = run_cli(tmp_path, "node", "offer", "--model", str(mid), "--price", "0.25", "--json")
        assert r.returncode == 0, r.stderr
        royalty = ONE * 1500 // 10_000
        assert json.loads(r.stdout) == {
            "node": node_addr, "model_id": mid, "offer": ONE // 4, "job_price": royalty + ONE // 4
        }  # fmt: skip
        rows = json.loads(
            run_cli(tmp_path, "nodes", "--model", str(mid), "--json", "--info-timeout", "0.5").stdout
        )
        fee_bps = suite.market.fee_bps()
        # the node with the offer is cheaper than the list price: first; nobody serves /info here
        assert [(o["address"], o["price"], o["royalty"], o["offer"], o["median_job_s"]) for o in rows] == [
            (node_addr, royalty + ONE // 4, royalty, ONE // 4, None),
            (other.address, ONE, (ONE - ONE * fee_bps // 10_000) * 1500 // 10_000, None, None),
        ]
        table = run_cli(tmp_path, "nodes", "--model", str(mid), "--info-timeout", "0.5").stdout
        assert "list price" in table and "0.4" in table and "royalty" in table

        bad = run_cli(tmp_path, "node", "offer", "--model", str(mid), "--price", "cheap")
        assert bad.returncode == 1 and "not a VEIL amount" in bad.stderr and "Traceback" not in bad.stderr
        both = run_cli(tmp_path, "node", "offer", "--model", str(mid))
        assert both.returncode == 1 and "either --price VEIL or --clear" in both.stderr
        cleared = run_cli(tmp_path, "node", "offer", "--model", str(mid), "--clear", "--json")
        assert json.loads(cleared.stdout)["job_price"] == ONE and json.loads(cleared.stdout)["offer"] is None
    finally:
        run_cli(tmp_path, "chain", "down")


def test_node_start_price_flags_parse_or_say_what_is_expected() -> None:
    from veilproof.cli.node_cmds import _parse_prices
    from veilproof.errors import ConfigError

    assert _parse_prices(["3=0.5", "7=0", "9=12"]) == {3: ONE // 2, 7: 0, 9: 12 * ONE}
    for bad, why in [("3", "MODEL_ID=VEIL"), ("x=1", "MODEL_ID=VEIL"), ("3=-1", "not a VEIL amount"),
                     ("3=abc", "not a VEIL amount"), ("3=1e-19", "not a VEIL amount"), ("3=nan", "not a VEIL amount")]:  # fmt: skip
        with pytest.raises(ConfigError, match=why):
            _parse_prices([bad])
