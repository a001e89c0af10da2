"""``veilproof explorer``: index a deployed network and serve its pages (docs/explorer.md)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from veilproof.cli._common import Home, console, failing, paths
from veilproof.errors import ConfigError


def explorer(
    rpc: str = typer.Option(
        ...,
        "--rpc",
        "--chain-url",
        envvar="VEILPROOF_CHAIN_URL",
        help="JSON-RPC URL of the chain to explore.",
    ),
    deployment: Path | None = typer.Option(
        None, help="The network's deployment.json (default: <home>/deployment.json)."
    ),
    db: Path | None = typer.Option(None, help="Index file (default: <home>/explorer/index-<chain id>.db)."),
    host: str = typer.Option("127.0.0.1", help="Listen address (0.0.0.0 to serve other machines)."),
    port: int = typer.Option(8090, help="Listen port."),
    interval: float = typer.Option(2.0, help="Seconds between index updates."),
    home: str | None = Home,
) -> None:
    """Follow the chain's events into a local SQLite index and serve the explorer pages until Ctrl-C."""
    from veilproof.chain import connect
    from veilproof.chain.deploy import Deployment
    from veilproof.chain.suite import Suite
    from veilproof.explorer.app import start_explorer

    p = paths(home)
    with failing():
        if interval <= 0:
            raise ConfigError(f"--interval {interval}: expected a positive number of seconds")
        d = Deployment.load(deployment or p.deployment)
        net = connect(rpc)
        if net.chain_id != d.chain_id:
            raise ConfigError(
                f"the deployment is for chain {d.chain_id} but {rpc} is chain {net.chain_id}: "
                "pass the matching --deployment"
            )
        index = db or p.home / "explorer" / f"index-{d.chain_id}.db"
        indexer, server = start_explorer(Suite.attach(net, d), index, host, port, interval)
    console.print(
        f"explorer on [bold]{server.url}[/] (index {index}, block {indexer.last_block()}); Ctrl-C stops"
    )
    try:
        while server.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        indexer.stop()
