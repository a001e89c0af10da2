"""A local veilproof network for the demo and end-to-end tests: chain, contracts, models, node processes.

Everything runs on 127.0.0.1. Nodes are separate OS processes (``python -m veilproof.node.runner``)
that reach the chain over JSON-RPC — the embedded py-evm chain served by this process, or any URL.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from veilproof.chain import Network, connect
from veilproof.chain.deploy import (
    ONE_VEIL,
    Deployment,
    ReceiptParams,
    SuiteParams,
    deploy_receipt_market,
    deploy_zk_verifier,
)
from veilproof.chain.dev.rpc_server import EmbeddedRpcServer
from veilproof.chain.keystore import Keystore
from veilproof.chain.suite import Suite
from veilproof.client.errors import NodeUnavailable
from veilproof.client.node_api import NodeApi
from veilproof.errors import ChainError
from veilproof.incentives.deploy import deploy_network
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.runner import save_config


@dataclass
class NodeProcess:
    name: str
    account: LocalAccount
    home: Path
    proc: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    honest: bool = True
    # What runs the node: the production runner, or a demo/test variant (e.g. veilproof.demo.cheater).
    module: str = "veilproof.node.runner"
    args: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def kill(self) -> None:
        """Hard kill (SIGKILL), as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15)


@dataclass
class LocalNetwork:
    """Owns the chain server (if embedded), the suite and the node processes."""

    root: Path
    net: Network
    suite: Suite
    owner: LocalAccount
    deployment_file: Path
    chain_url: str
    server: EmbeddedRpcServer | None = None
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    nodes: list[NodeProcess] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        root: Path,
        chain_url: str | None = None,
        params: SuiteParams | None = None,
        verifier: tuple[list, str] | None = None,
        receipts: ReceiptParams | None = None,
    ) -> LocalNetwork:
        """Start (or attach to) a chain, deploy the suite, and the ZK verifier if given (abi, bytecode);
        with ``receipts`` also the pay-on-proof ReceiptMarket (needs the verifier).

        ``params`` defaults to the production economics (:class:`SuiteParams`); the demo and tests pass
        :meth:`SuiteParams.dev` for a small stake and a short window."""
        root.mkdir(parents=True, exist_ok=True)
        server = None
        if chain_url is None:
            server = EmbeddedRpcServer().start()
            chain_url = server.url
        net = connect(chain_url)
        owner = Account.create()
        net.fund(owner.address)
        d = deploy_network(net, owner, params)
        if verifier is not None:
            deploy_zk_verifier(net, owner, d, verifier[0], verifier[1])
        if receipts is not None:
            deploy_receipt_market(net, owner, d, receipts)
        dep_file = d.save(root / "deployment.json")
        return cls(root, net, Suite.attach(net, d), owner, dep_file, chain_url, server)

    def reload_deployment(self) -> Deployment:
        return Deployment.load(self.deployment_file)

    def new_funded(self, veil: int) -> LocalAccount:
        (a,) = self.net.new_accounts(1)
        if veil:
            self.suite.token.mint(a.address, veil * ONE_VEIL, sender=self.owner)
        return a

    def start_node(
        self,
        name: str,
        models: list[ServedModel],
        *,
        artifacts_dir: Path | None = None,
        artifact_sources: list[str] | None = None,
        stake_veil: int | None = None,
        account: LocalAccount | None = None,
        wait: bool = True,
        workers: int = 1,
        queue_limit: int = 8,
        honest: bool = True,
        module: str = "veilproof.node.runner",
        args: list[str] | None = None,
        config: dict[str, Any] | None = None,
    ) -> NodeProcess:
        """Start a node process; it registers, stakes, checks its artifacts, then serves.

        ``module`` runs the node (``python -m module NODE.json *args``): the production runner by
        default; fault-injecting variants for the demo and tests pass their own (see
        :func:`veilproof.demo.cheater.start_cheater`). ``config`` sets other :class:`NodeConfig`
        fields (timeouts, limits). ``stake_veil`` defaults to the network's minimum node stake (read
        from the chain, so the same code runs on a dev deploy and on the tuned production one)."""
        home = self.root / "nodes" / name
        home.mkdir(parents=True, exist_ok=True)
        if stake_veil is None:
            stake_veil = -(-self.suite.nodes.min_stake() // ONE_VEIL)
        acct = account or self.new_funded(stake_veil + 10)
        ks = Keystore(home / "keystore")
        if not (home / "keystore" / "node.json").exists():
            ks.create("node", self.password, acct)
        if artifacts_dir is not None and not (home / "artifacts").exists():
            (home / "artifacts").symlink_to(artifacts_dir.resolve(), target_is_directory=True)
        cfg = NodeConfig(
            home=home,
            chain_url=self.chain_url,
            deployment_file=self.deployment_file,
            account_name="node",
            models=models,
            stake=stake_veil * ONE_VEIL,
            artifact_sources=artifact_sources or [],
            workers=workers,
            queue_limit=queue_limit,
            **(config or {}),
        )
        save_config(cfg, home / "node.json")
        node = NodeProcess(name, acct, home, honest=honest, module=module, args=list(args or []))
        self.nodes.append(node)
        self.spawn(node)
        if wait:
            self.wait_ready(node)
        return node

    def spawn(self, node: NodeProcess) -> None:
        (node.home / "ready.json").unlink(missing_ok=True)
        env = {**os.environ, "VEILPROOF_PASSWORD": self.password}
        log = open(node.home / "node.log", "ab")  # noqa: SIM115 - owned by the child
        node.proc = subprocess.Popen(
            [sys.executable, "-m", node.module, str(node.home / "node.json"), *node.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, node: NodeProcess, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        ready = node.home / "ready.json"
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                tail = (node.home / "node.log").read_text(errors="replace")[-2000:]
                raise ChainError(f"node {node.name} exited with code {node.proc.returncode}:\n{tail}")
            if ready.is_file():
                node.endpoint = json.loads(ready.read_text())["endpoint"]
                try:
                    with NodeApi(node.endpoint, timeout=2) as api:
                        api.health()
                    return
                except NodeUnavailable:
                    pass
            time.sleep(0.2)
        raise ChainError(f"node {node.name} not ready within {timeout}s; see {node.home / 'node.log'}")

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
        if self.server is not None:
            self.server.stop()
