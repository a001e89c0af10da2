"""`veilproof orders pursue` runs Client.pursue_orders on its own (#14): a user who places no new order
can still enforce the old ones. The demand -> resolve (slash) path with a real vanished node is
tests/e2e/test_receipts_network.py::test_the_client_demands_an_order_the_node_never_delivered_and_resolves_it; here the command's own
work: it reads the home's remembered orders, leaves one that is not due, and forgets one whose claim
window closed (a demand would be refused by then)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_cli

from veilproof.chain import connect
from veilproof.chain.deploy import Deployment
from veilproof.chain.keystore import Keystore
from veilproof.chain.receipt_market import Order
from veilproof.chain.suite import Suite
from veilproof.cli._common import paths, resolve_chain_url
from veilproof.client import Client


@pytest.mark.slow  # ~20 s: a chain up, a deploy and four CLI processes
def test_orders_pursue_checks_remembered_orders(tmp_path: Path) -> None:
    up = run_cli(tmp_path, "chain", "up", "--port", "0", "--embedded")
    assert up.returncode == 0, up.stderr
    try:
        assert run_cli(tmp_path, "deploy", "--json").returncode == 0
        net = connect(resolve_chain_url(paths(str(tmp_path)), None))
        suite = Suite.attach(net, Deployment.load(tmp_path / "deployment.json"))
        rm = suite.receipts
        assert rm is not None
        default = Keystore(tmp_path / "keystore").load("default", "pw")
        (node,) = net.new_accounts(1)
        c = Client(suite, default, tmp_path / "client")
        order = Order(default.address, node.address, 1, b"\x01" * 32, 10**18, net.now() + 600, 1)
        c._remember_order(order, "0x" + rm.order_hash(order).hex(), rm.sign_acceptance(order, node))

        r = run_cli(tmp_path, "orders", "pursue", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"done": [], "checked": 1, "waiting": 1}  # not due yet

        net.time_travel(600 + rm.param("claim_window") + 10)
        r = run_cli(tmp_path, "orders", "pursue")
        assert r.returncode == 0, r.stderr
        assert "1 undelivered order(s) checked, 0 action(s), 0 still open" in r.stdout
        assert c.undelivered_orders() == []
    finally:
        run_cli(tmp_path, "chain", "down")
