"""``veilproof infer | jobs | models | nodes``: the buyer's commands."""

from __future__ import annotations

import json
from pathlib import Path

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


def _client(home: str | None, chain_url: str | None, account: str):  # type: ignore[no-untyped-def]
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
    verified: bool = typer.Option(True, "--verified/--no-verified", help="ZK: proof checked on chain."),
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
            r = c.infer(model, x, private=private, verified=verified, node=node, progress=status.update)
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json(r.__dict__)
        return
    console.print(f"job {r.job_id} ({r.mode}) on node {r.node}: [bold]{r.status}[/]")
    console.print(f"output: {[round(v, 4) for v in r.output]}")


def jobs(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Your jobs and their on-chain status."""
    try:
        rows = _client(home, chain_url, account).jobs()
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json([r.__dict__ for r in rows])
        return
    t = Table("job", "model", "mode", "node", "price", "status")
    for j in rows:
        t.add_row(
            str(j.job_id),
            str(j.model_id),
            "zk" if j.mode == 1 else "fhe",
            j.node,
            f"{j.price / 1e18:g}",
            j.status_name,
        )
    console.print(t)


def models(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Models registered on chain, with their commitments."""
    try:
        rows = _client(home, chain_url, account).models()
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json([r.__dict__ for r in rows])
        return
    t = Table("id", "name", "price", "zk", "fhe", "active", "owner")
    for m in rows:
        t.add_row(str(m.model_id), m.name, f"{m.price / 1e18:g}", "✓" if m.has_zk else "", "✓" if m.has_fhe else "",
                  "✓" if m.active else "retired", m.owner)  # fmt: skip
    console.print(t)


def nodes(
    model: int = typer.Option(..., "--model"),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Active nodes serving a model, best first."""
    try:
        rows = _client(home, chain_url, account).nodes(model)
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json([{**r.__dict__, "pubkey": "0x" + r.pubkey.hex()} for r in rows])
        return
    t = Table("node", "endpoint", "stake", "price", "reputation")
    for o in rows:
        t.add_row(o.address, o.endpoint, f"{o.stake / 1e18:g}", f"{o.price / 1e18:g}", f"{o.reputation:g}")
    console.print(t)
