"""``veilproof infer | jobs | models | nodes``: the buyer's commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    console,
    emit_json,
    fail,
    load_account,
    open_network,
    paths,
)
from veilproof.errors import InputError, VeilproofError

if TYPE_CHECKING:
    from veilproof.client import Client


def _client(home: str | None, chain_url: str | None, account: str) -> Client:
    from veilproof.chain.deploy import Deployment
    from veilproof.chain.suite import Suite
    from veilproof.client import Client

    p = paths(home)
    net = open_network(p, chain_url)
    suite = Suite.attach(net, Deployment.load(p.deployment))
    return Client(suite, load_account(p, account), p.home / "client")


def infer(
    model: int = typer.Option(..., "--model", help="Model id."),
    input_file: Path = typer.Option(
        ..., "--input", help="JSON file with the input vector (list of numbers)."
    ),
    private: bool = typer.Option(False, "--private", help="FHE: the node never sees input or output."),
    node: str | None = typer.Option(None, help="Use this node address."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Pay for one inference through escrow; verify (ZK) or decrypt (FHE) the answer."""
    try:
        try:
            x = json.loads(input_file.read_text())
        except (OSError, ValueError) as e:
            raise InputError("--input", "a JSON file holding a list of numbers", str(input_file)) from e
        c = _client(home, chain_url, account)
        with console.status("running inference…") as status:
            r = c.infer(model, x, private=private, node=node, progress=status.update)
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json(r.__dict__)
        return
    console.print(f"job {r.job_id} ({r.mode}) on node {r.node}: [bold]{r.status}[/]")
    console.print(f"output: {[round(v, 4) for v in r.output]}")


def _show(
    fetch: Callable[[Client], list[Any]],
    columns: tuple[str, ...],
    cells: Callable[[Any], tuple[str, ...]],
    home: str | None,
    chain_url: str | None,
    account: str,
    json_out: bool,
    as_json: Callable[[Any], dict[str, Any]] = lambda r: r.__dict__,
) -> None:
    """Fetch rows through the SDK, then print them as JSON or as a table: one path for the list commands."""
    try:
        rows = fetch(_client(home, chain_url, account))
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json([as_json(r) for r in rows])
        return
    t = Table(*columns)
    for r in rows:
        t.add_row(*cells(r))
    console.print(t)


def jobs(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Your jobs and their on-chain status."""
    _show(
        lambda c: c.jobs(),
        ("job", "model", "mode", "node", "price", "status"),
        lambda j: (str(j.job_id), str(j.model_id), "zk" if j.mode == 1 else "fhe", j.node, f"{j.price / 1e18:g}",
                   j.status_name),
        home, chain_url, account, json_out,
    )  # fmt: skip


def models(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Models registered on chain, with their commitments."""
    _show(
        lambda c: c.models(),
        ("id", "name", "price", "zk", "fhe", "active", "owner"),
        lambda m: (str(m.model_id), m.name, f"{m.price / 1e18:g}", "✓" if m.has_zk else "", "✓" if m.has_fhe else "",
                   "✓" if m.active else "retired", m.owner),
        home, chain_url, account, json_out,
    )  # fmt: skip


def nodes(
    model: int = typer.Option(..., "--model"),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Active nodes serving a model, best first."""
    _show(
        lambda c: c.nodes(model),
        ("node", "endpoint", "stake", "price", "reputation"),
        lambda o: (o.address, o.endpoint, f"{o.stake / 1e18:g}", f"{o.price / 1e18:g}", f"{o.reputation:g}"),
        home, chain_url, account, json_out,
        as_json=lambda r: {**r.__dict__, "pubkey": "0x" + r.pubkey.hex()},
    )  # fmt: skip
