"""``veilproof demo --explorer``: at the end of the demo, keep the network up and serve the explorer
on it until Ctrl-C, so the jobs, slashes, lineage and epoch the demo just made can be browsed."""

from __future__ import annotations

import time

from rich.console import Console

from veilproof.demo.network import LocalNetwork

EXPLORER_PORT = 8090


def serve_explorer(lnet: LocalNetwork, console: Console, port: int = EXPLORER_PORT) -> None:
    """Index the demo's chain, serve the pages on ``127.0.0.1:port`` and block until Ctrl-C."""
    from veilproof.explorer.app import start_explorer

    indexer, server = start_explorer(lnet.suite, lnet.root / "explorer" / "index.db", port=port)
    console.rule(f"[bold]explorer[/] on {server.url} (chain {lnet.chain_url}) · Ctrl-C to stop")
    try:
        while server.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        indexer.stop()
