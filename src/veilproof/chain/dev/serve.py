"""``python -m veilproof.chain.dev.serve --port N``: serve a fresh embedded chain until killed."""

from __future__ import annotations

import argparse
import signal
import threading

from veilproof.chain.dev.rpc_server import EmbeddedRpcServer


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve an in-process py-evm chain over JSON-RPC on 127.0.0.1")
    ap.add_argument("--port", type=int, default=8545)
    ap.add_argument(
        "--allow-origin", action="append", default=[], metavar="ORIGIN",
        help="a browser origin (e.g. http://localhost:5173) allowed to call the chain; repeatable. "
        "Without it no web page can (its accounts are unlocked).",
    )  # fmt: skip
    args = ap.parse_args()
    srv = EmbeddedRpcServer(port=args.port, allowed_origins=args.allow_origin).start()
    print(f"Listening on 127.0.0.1:{srv.port}", flush=True)  # the line anvil prints, parsed by chain.local
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    srv.stop()


if __name__ == "__main__":
    main()
