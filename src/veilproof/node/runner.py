"""Start a node: connect, load and check models, register and stake, recover, then serve HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import uvicorn
from eth_account.signers.local import LocalAccount
from uvicorn.protocols.http.h11_impl import H11Protocol

from veilproof.chain import Network, connect
from veilproof.chain.deploy import Deployment
from veilproof.chain.keystore import Keystore
from veilproof.chain.suite import Suite
from veilproof.errors import ConfigError
from veilproof.node.app import create_app
from veilproof.node.config import NodeConfig, ServedModel, announced_endpoint
from veilproof.node.service import NodeService
from veilproof.protocol.api import ErrorBody, RefusalCode

log = logging.getLogger("veilproof.node")

# How a runner builds the service; a test or demo runner passes a NodeService subclass here (for
# instance the demo's cheating node, veilproof.demo.cheater): production code has no switch for it.
ServiceFactory = Callable[[NodeConfig, Network, Suite, LocalAccount], NodeService]


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with two guards against slow or numerous clients.

    * A deadline for each request's head (request line and headers). uvicorn times out an idle
      kept-alive connection, but any byte resets that timer, so a client trickling a request head held
      its connection forever. Each connection must complete a request head within ``head_timeout_s``
      of connecting or of the previous response; bodies have their own deadline (``node/app.py``).
    * A cap on open connections, answered with a JSON ``ErrorBody`` 503 (uvicorn's own
      ``limit_concurrency`` answers in plain text; it stays as a backstop on in-flight requests), and
      a cap per peer address below it: without it one client opening connections (or holding
      long-polls on many) took every slot, and every other client, validators included, got 503."""

    head_timeout_s: float = 10.0
    max_connections: int = 256
    max_connections_per_peer: int = 64

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn
        super().connection_made(transport)
        refusal = self._over_limit()
        if refusal is not None:
            data = ErrorBody(error=refusal, code=RefusalCode.BUSY).model_dump_json().encode()
            transport.write(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(data)).encode() + b"\r\nconnection: close\r\n\r\n" + data
            )
            transport.close()
            return
        self._arm_head_deadline()

    def _over_limit(self) -> str | None:
        """Why this new connection is refused (this one counted), or None."""
        if len(self.connections) > self.max_connections:
            return f"node at its limit of {self.max_connections} connections; retry later"
        peer = self.client[0] if self.client else None
        if self.max_connections_per_peer > 0 and peer is not None:
            mine = sum(1 for c in self.connections if c.client and c.client[0] == peer)
            if mine > self.max_connections_per_peer:
                return (
                    f"node at its limit of {self.max_connections_per_peer} connections from one address; "
                    "close idle connections or retry later"
                )
        return None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self.loop.call_later(self.head_timeout_s, self._head_deadline, self.cycle)

    def _head_deadline(self, cycle_when_armed: object) -> None:
        # Still the same request cycle: no new request head arrived since the deadline was armed.
        if self.cycle is cycle_when_armed and not self.transport.is_closing():
            self.transport.close()


def server_config(app: object, cfg: NodeConfig) -> uvicorn.Config:
    """uvicorn settings that bound what slow or numerous clients can hold (see NodeConfig)."""
    protocol = type(
        "NodeH11Protocol",
        (_GuardedH11,),
        {
            "head_timeout_s": cfg.head_timeout_s,
            "max_connections": cfg.max_connections,
            "max_connections_per_peer": cfg.max_connections_per_peer,
        },
    )
    return uvicorn.Config(
        app,  # type: ignore[arg-type]  # an ASGI app
        log_level="warning",
        access_log=False,
        http=protocol,
        timeout_keep_alive=max(1, int(cfg.keep_alive_s)),
        limit_concurrency=cfg.max_connections + 16,
    )


def save_config(cfg: NodeConfig, path: Path) -> None:
    d = asdict(cfg)
    d["home"] = str(cfg.home)
    d["deployment_file"] = str(cfg.deployment_file)
    path.write_text(json.dumps(d, indent=2))


def load_config(path: Path) -> NodeConfig:
    try:
        d = json.loads(path.read_text())
        d["home"] = Path(d["home"])
        d["deployment_file"] = Path(d["deployment_file"])
        d["models"] = [ServedModel(**m) for m in d["models"]]
        d["offers"] = {int(k): int(v) for k, v in d.get("offers", {}).items()}  # JSON keys are strings
        return NodeConfig(**d)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ConfigError(f"node config {path}: {e}") from e


def build_service(
    cfg: NodeConfig, password: str | None = None, factory: ServiceFactory = NodeService
) -> NodeService:
    password = password if password is not None else os.environ.get("VEILPROOF_PASSWORD")
    if password is None:
        raise ConfigError("node account password: set VEILPROOF_PASSWORD")
    account = Keystore(cfg.home / "keystore").load(cfg.account_name, password)
    net = connect(cfg.chain_url)
    suite = Suite.attach(net, Deployment.load(cfg.deployment_file))
    svc = factory(cfg, net, suite, account)
    svc.load_models()
    return svc


def run_node(cfg: NodeConfig, factory: ServiceFactory = NodeService) -> None:
    """Blocking: serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s node %(levelname)s %(message)s")
    announced_endpoint(cfg)  # a listen address nobody can reach fails here, before anything is staked
    # Bind first and keep the socket: with port 0 the OS picks a port that nobody can take between
    # choosing it and serving on it (a pick-then-rebind would race other processes' ephemeral ports).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((cfg.host, cfg.port))
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"node: cannot listen on {cfg.host}:{cfg.port} ({e.strerror}); pick another --port"
        ) from e
    cfg.port = int(sock.getsockname()[1])
    svc = build_service(cfg, factory=factory)
    # Prover processes start now, loading the served packages while the node registers and recovers:
    # a model's first job pays only its proof (see veilproof.node.proving).
    svc.warm_provers()
    endpoint = announced_endpoint(cfg)
    svc.ensure_registered_and_staked(endpoint)
    requeued, abandoned = svc.recover_unfinished()
    svc.resume_orders()
    log.info("node %s serving %s at %s (requeued %d, abandoned %d)", svc.address,
             sorted(svc.models), endpoint, requeued, abandoned)  # fmt: skip
    # Listening before the readiness file: connections made as soon as it appears wait in the backlog.
    sock.listen(2048)
    # Readiness file: a parent process (demo, tests) waits for it instead of guessing.
    (cfg.home / "ready.json").write_text(json.dumps({"endpoint": endpoint, "address": svc.address}))
    svc.start_maintenance()  # chain probe, chain watch (delivery demands, refuted attestations), key sweep
    server = uvicorn.Server(server_config(create_app(svc), cfg))
    try:
        server.run(sockets=[sock])
    finally:
        (cfg.home / "ready.json").unlink(missing_ok=True)
        svc.pool.shutdown(wait=False)
        svc.prover.close()


def main() -> None:
    import sys

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m veilproof.node.runner NODE_CONFIG.json")
    run_node(load_config(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
