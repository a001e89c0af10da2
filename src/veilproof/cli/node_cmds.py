"""``veilproof node start``: run a compute node."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import typer

from veilproof.cli._common import (
    ChainUrl,
    Home,
    JsonOut,
    console,
    emit_json,
    fail,
    failing,
    load_account,
    paths,
    resolve_chain_url,
)
from veilproof.errors import ConfigError

node_app = typer.Typer(
    help="Run a compute node that sells ZK-verified and FHE-private inference.", no_args_is_help=True
)


def _parse_models(specs: list[str]) -> list:
    from veilproof.node.config import ServedModel

    out = []
    for s in specs:
        # ID:zk=DIGEST,fhe-server=DIGEST,fhe-client=DIGEST
        try:
            mid, _, rest = s.partition(":")
            kw = dict(p.split("=", 1) for p in rest.split(",") if p)
            out.append(
                ServedModel(
                    int(mid),
                    zk_package=kw.get("zk"),
                    fhe_server=kw.get("fhe-server"),
                    fhe_client=kw.get("fhe-client"),
                )
            )
        except ValueError as e:
            raise ConfigError(
                f"--model {s!r}: expected ID:zk=DIGEST,fhe-server=DIGEST,fhe-client=DIGEST"
            ) from e
    return out


def _veil(text: str, what: str) -> int:
    """A VEIL amount (decimal, e.g. ``0.25``) in base units; a clear error for anything else."""
    from decimal import Decimal, InvalidOperation

    try:
        d = Decimal(text)
    except InvalidOperation:
        d = Decimal(-1)
    wei = d * 10**18
    if not d.is_finite() or d < 0 or wei != wei.to_integral_value():
        raise ConfigError(f"{what}: {text!r} is not a VEIL amount (a number >= 0, at most 18 decimals)")
    return int(wei)


def _parse_prices(specs: list[str]) -> dict[int, int]:
    """``--price MODEL=VEIL`` flags as {model id: base units}."""
    out: dict[int, int] = {}
    for s in specs:
        mid, sep, price = s.partition("=")
        if not sep or not mid.strip().isdigit():
            raise ConfigError(f"--price {s!r}: expected MODEL_ID=VEIL, e.g. --price 3=0.5")
        out[int(mid)] = _veil(price.strip(), f"--price {s!r}")
    return out


@node_app.command("offer")
def offer(
    model: int = typer.Option(..., "--model", "-m", help="A model this node serves."),
    price: str | None = typer.Option(
        None, "--price", help="The node's compute price per job in VEIL, on top of the owner's royalty."
    ),
    clear: bool = typer.Option(False, "--clear", help="Drop the offer: jobs cost the model's list price."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = typer.Option("node", "--account", "-a"),
    json_out: bool = JsonOut,
) -> None:
    """Set (or --clear) this node's own price for a model (NodeRegistry.set_offer). A job then costs the
    model owner's royalty (list price x royalty share) plus this price; clients see it in `veilproof nodes`."""
    from veilproof.chain.node_registry import job_price
    from veilproof.cli._common import amount, attach_suite, open_network

    with failing():
        if clear == (price is not None):
            raise ConfigError("node offer: pass either --price VEIL or --clear")
        p = paths(home)
        net = open_network(p, chain_url)
        suite = attach_suite(p, net)
        acct = load_account(p, account)
        if clear:
            suite.nodes.clear_offer(model, sender=acct)
        else:
            assert price is not None
            suite.nodes.set_offer(model, _veil(price, "--price"), sender=acct)
        m = suite.models.read_model(model)
        own = suite.nodes.offer(acct.address, model)
        total = job_price(m.price, m.royalty_bps, own)
    if json_out:
        emit_json({"node": acct.address, "model_id": model, "offer": own, "job_price": total})
    else:
        what = "no offer (list price)" if own is None else f"offer {amount(own)} VEIL"
        console.print(f"node {acct.address} model {model}: {what}; a job costs {amount(total)} VEIL")


@node_app.command("start")
def start(
    model: list[str] = typer.Option(
        ..., "--model", "-m", help="ID:zk=PKG,fhe-server=H,fhe-client=H (repeatable)."
    ),
    config: Path | None = typer.Option(None, help="A node.json instead of the flags."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = typer.Option("node", "--account", "-a"),
    host: str = typer.Option(
        "127.0.0.1",
        help="Listen address (loopback by default; this machine's address, or 0.0.0.0 with --public-url).",
    ),
    port: int = typer.Option(8600),
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        help="URL announced on chain for clients, validators and peers (default http://HOST:PORT); "
        "needed with --host 0.0.0.0, or behind NAT/a proxy.",
    ),
    workers: int = typer.Option(1, help="Concurrent jobs (proving is CPU-heavy)."),
    queue_limit: int = typer.Option(8, help="Queued jobs beyond the workers before answering 503."),
    prover_threads: int | None = typer.Option(
        None,
        min=1,
        help="Threads per prover process (default: one per core). Set 1 when this machine runs at "
        "least as many prover processes (all nodes' workers) as it has cores.",
    ),
    stake: int = typer.Option(
        2_000,  # = chain.deploy.NODE_MIN_STAKE_VEIL (not imported: the CLI loads web3 lazily)
        help="VEIL to keep staked (at least the network's minimum node stake).",
    ),
    fetch_from: list[str] = typer.Option([], help="Other nodes to fetch missing artifacts from."),
    price: list[str] = typer.Option(
        [],
        "--price",
        help="MODEL=VEIL: this node's own price for a served model, on top of the owner's royalty "
        "(repeatable; set on chain at start; see `veilproof node offer`).",
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON line (endpoint, address, pid) once serving."
    ),
    refuse_tainted_data: bool = typer.Option(
        True,
        "--refuse-tainted-data/--serve-tainted-data",
        help="Refuse models trained on a data version holding a revoked record (issue #15; default on).",
    ),
) -> None:
    """Stake, announce endpoint and models, check artifacts against the chain, then serve."""
    from veilproof.node.config import NodeConfig, announced_endpoint
    from veilproof.node.runner import load_config, run_node

    with failing():
        if config:
            cfg = load_config(config)
        else:
            p = paths(home)
            url = resolve_chain_url(p, chain_url)
            if url is None:
                raise ConfigError("a node needs a shared chain: pass --chain-url or run `veilproof chain up`")
            cfg = NodeConfig(
                home=p.home, chain_url=url, deployment_file=p.deployment, account_name=account,
                models=_parse_models(model), host=host, port=port, public_url=public_url, workers=workers,
                queue_limit=queue_limit, prover_threads=prover_threads, stake=stake * 10**18, artifact_sources=list(fetch_from),
                offers=_parse_prices(price), refuse_tainted_data=refuse_tainted_data,
            )  # fmt: skip
            announced_endpoint(cfg)  # an unreachable announcement fails before the password prompt
            load_account(p, account)  # fail early on a wrong password
        pid_file = cfg.home / "node.pid"  # for `veilproof node stop`
        cfg.home.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(str(os.getpid()))
        if json_out:
            _announce_when_ready(cfg.home / "ready.json")
        try:
            run_node(cfg)
        finally:
            pid_file.unlink(missing_ok=True)


def _announce_when_ready(ready: Path) -> None:
    """Print ``{"endpoint", "address", "pid"}`` on stdout once the node writes its readiness file (the node
    serves until stopped, so a script reads this line instead of polling)."""
    ready.unlink(missing_ok=True)  # a stale one from an earlier run

    def watch() -> None:
        while True:
            try:
                info = json.loads(ready.read_text())
            except (OSError, ValueError):
                time.sleep(0.1)
                continue
            sys.stdout.write(json.dumps({**info, "pid": os.getpid()}) + "\n")
            sys.stdout.flush()
            return

    threading.Thread(target=watch, name="ready-announcer", daemon=True).start()


@node_app.command("stop")
def stop(
    home: str | None = Home,
    timeout: float = typer.Option(30.0, help="Seconds to wait for the node to finish and exit."),
    json_out: bool = JsonOut,
) -> None:
    """Stop the node `veilproof node start` runs from this home (SIGTERM: it finishes cleanly)."""
    pid_file = paths(home).home / "node.pid"
    try:
        pid = int(pid_file.read_text()) if pid_file.is_file() else None
    except ValueError:
        pid = None
    alive = pid is not None and _alive(pid)
    if pid is not None and alive:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                fail(
                    ConfigError(
                        f"node (pid {pid}) still running after {timeout:g}s: kill it with `kill -9 {pid}`"
                    )
                )
            time.sleep(0.2)
    pid_file.unlink(missing_ok=True)
    if json_out:
        emit_json({"stopped": pid if alive else None})
    else:
        console.print(f"stopped node (pid {pid})" if alive else "no node running from this home")


def _alive(pid: int) -> bool:
    """Running (an exited child its parent has not reaped yet, a zombie, counts as gone)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
