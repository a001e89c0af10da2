"""Everything a node process needs to start, as one dataclass (built by the CLI or a test)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from veilproof.errors import ConfigError


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
    public_url: str | None = None  # what goes on chain; defaults to http://host:port (announced_endpoint)
    workers: int = 1
    # Threads per prover process (EZKL's rayon pool; None: one per core, rayon's default). On a machine
    # with more prover processes than cores (several nodes, or workers > 1) one thread each proves more
    # per CPU second: measured on 2 cores, 2 provers x 1 thread 123.5 proofs/min at 0.96 CPU s each,
    # x 2 threads 105.7 at 1.10 (bench/network.py's raw runs). See prover_threads_for().
    prover_threads: int | None = None
    queue_limit: int = 8
    max_body_bytes: int = 4 * 1024 * 1024
    max_eval_key_bytes: int = 256 * 1024 * 1024
    eval_key_quota_bytes: int = 512 * 1024 * 1024  # per client, over its uploads still held
    eval_key_grace_s: int = 3600  # keys are kept this long past their job's deadline, then swept
    max_artifact_bytes: int = 4 * 1024**3  # the most the node downloads for one artifact from a peer
    maintenance_interval_s: float = 30.0
    stake: int = 2_000 * 10**18  # the production minimum node stake (chain.deploy.NODE_MIN_STAKE_VEIL)
    artifact_sources: list[str] = field(default_factory=list)  # other nodes' base URLs
    # the node's own compute price per model (VEIL base units), set on chain at start (NodeRegistry.set_offer);
    # a model not listed keeps whatever offer it has (none: the model's list price)
    offers: dict[int, int] = field(default_factory=dict)
    deadline_margin: int = 5  # seconds a job must still have left to be accepted
    # Pay-on-proof (ReceiptMarket): receipts are settled in one transaction once this many are held,
    # or once the oldest has waited this long (and at once when a client's withdrawal is pending).
    settle_batch: int = 20
    settle_interval_s: float = 300.0
    # After settling or claiming, the node pulls its ReceiptMarket earnings (``collect``) once they reach
    # this much (VEIL base units; 0: whenever anything is pending): one transfer per batch, not per job.
    collect_min: int = 0
    # Slow clients (see node/app.py _read_limited and node/runner.py): a body must keep arriving
    # (idle), and arrive whole in time; a request head must arrive in time; connections are capped.
    body_idle_s: float = 10.0
    body_deadline_s: float = 120.0
    head_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    max_connections: int = 256
    # At most this many of them from one peer address (0: no per-peer cap, e.g. behind a reverse proxy,
    # where every client has the proxy's address): one client holding idle or long-polled connections
    # cannot take the whole node's ``max_connections`` from the others.
    max_connections_per_peer: int = 64
    # Data-lineage policy (issue #15, node/data_policy.py): refuse a model trained on a data version
    # that holds a revoked record (at start, and per job with the reading cached this many seconds).
    refuse_tainted_data: bool = True
    lineage_recheck_s: float = 30.0


def prover_threads_for(provers: int, cores: int | None = None) -> int | None:
    """The prover threads to give each of ``provers`` prover processes sharing ``cores`` (default: this
    machine's): one each when they are at least as many as the cores (their own threads would only
    wait on each other), else rayon's default (None)."""
    import os

    n = cores if cores is not None else (os.cpu_count() or 1)
    return 1 if provers >= n else None


def _wildcard(host: str) -> bool:
    """Whether ``host`` means "every interface" (then it is no address another machine can dial)."""
    if host in ("", "*"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def announced_endpoint(cfg: NodeConfig) -> str:
    """The URL the node puts on chain, where clients, validators and peer nodes will reach it.

    ``public_url`` when given (a node behind NAT, a proxy or TLS terminator announces that), else
    ``http://host:port``. A wildcard listen address (``0.0.0.0``, ``::``) has no such URL: announcing
    ``http://0.0.0.0:PORT`` would register a node nobody can reach (and be slashed for the jobs it never
    gets), so it is refused with what to pass instead."""
    if cfg.public_url:
        parts = urlsplit(cfg.public_url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host or _wildcard(host):
            raise ConfigError(
                f"node public URL {cfg.public_url!r}: expected http(s)://HOST[:PORT] with the host name or "
                "address other machines use to reach this node (not 0.0.0.0)"
            )
        return cfg.public_url.rstrip("/")
    if _wildcard(cfg.host):
        raise ConfigError(
            f"node listens on {cfg.host or '*'}:{cfg.port} (every interface), which is no address other "
            "machines can reach: pass --public-url http://<this machine's address or name>:<port>"
        )
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    return f"http://{host}:{cfg.port}"
