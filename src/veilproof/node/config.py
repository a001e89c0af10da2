"""Everything a node process needs to start, as one dataclass (built by the CLI or a test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ServedModel:
    """A model id from the chain, and where its artifacts are in the node's store."""

    model_id: int
    zk_package: str | None = None  # manifest digest of the ZK package
    fhe_server: str | None = None  # sha256 of server.zip (must equal the on-chain commitment)
    fhe_client: str | None = None  # sha256 of client.zip (served to clients; must match chain too)


@dataclass
class NodeConfig:
    home: Path
    chain_url: str
    deployment_file: Path
    account_name: str
    models: list[ServedModel]
    host: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None  # what goes on chain; defaults to http://host:port
    workers: int = 1
    queue_limit: int = 8
    max_body_bytes: int = 4 * 1024 * 1024
    max_eval_key_bytes: int = 256 * 1024 * 1024
    stake: int = 100 * 10**18
    artifact_sources: list[str] = field(default_factory=list)  # other nodes' base URLs
    deadline_margin: int = 5  # seconds a job must still have left to be accepted
