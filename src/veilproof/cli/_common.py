"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console

from veilproof.chain import Network, connect
from veilproof.chain.dev.local import read_local_chain
from veilproof.chain.keystore import Keystore
from veilproof.config import Paths
from veilproof.errors import VeilproofError

console = Console()
err_console = Console(stderr=True)

ChainUrl = typer.Option(
    None,
    "--chain-url",
    envvar="VEILPROOF_CHAIN_URL",
    help="JSON-RPC URL. Default: the chain `veilproof chain up` started, else an in-process embedded chain.",
)
Home = typer.Option(None, "--home", envvar="VEILPROOF_HOME", help="State folder (default ~/.veilproof).")
AccountName = typer.Option("default", "--account", "-a", help="Keystore account name.")
JsonOut = typer.Option(False, "--json", help="Print machine-readable JSON.")


def paths(home: str | None) -> Paths:
    return Paths.default(home)


def resolve_chain_url(p: Paths, chain_url: str | None) -> str | None:
    if chain_url:
        return chain_url
    lc = read_local_chain(p.home)
    return lc.url if lc else None


def open_network(p: Paths, chain_url: str | None) -> Network:
    url = resolve_chain_url(p, chain_url)
    if url is None:
        err_console.print(
            "[yellow]no chain running:[/] using an embedded in-process chain that ends with this command "
            "(start a shared one with `veilproof chain up`)"
        )
    return connect(url)


def load_account(p: Paths, name: str, create: bool = False) -> LocalAccount:
    """Load (or create) a keystore account; the password comes from $VEILPROOF_PASSWORD or a prompt."""
    ks = Keystore(p.keystore)
    password = os.environ.get("VEILPROOF_PASSWORD")
    exists = (p.keystore / f"{name}.json").is_file()
    if not exists and not create:
        raise typer.BadParameter(f"no account {name!r}: create one with `veilproof account new {name}`")
    if password is None:
        password = typer.prompt(
            f"password for account {name!r}", hide_input=True, confirmation_prompt=not exists
        )
    if not exists:
        entry = ks.create(name, password)
        err_console.print(f"created account [bold]{name}[/] {entry.address} in {entry.path}")
    return ks.load(name, password)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def fail(e: VeilproofError) -> None:
    err_console.print(f"[red]error:[/] {e}")
    raise typer.Exit(code=1)
