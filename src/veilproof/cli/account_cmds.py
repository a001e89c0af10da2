"""``veilproof account new|list``: local encrypted keystores."""

from __future__ import annotations

import os

import typer
from rich.table import Table

from veilproof.chain.keystore import Keystore
from veilproof.cli._common import Home, console, fail, paths
from veilproof.errors import VeilproofError

account_app = typer.Typer(
    help="Local encrypted keystores (keys never leave this machine).", no_args_is_help=True
)


@account_app.command("new")
def new(name: str = typer.Argument("default"), home: str | None = Home) -> None:
    """Create an encrypted keystore; the password comes from $VEILPROOF_PASSWORD or a prompt."""
    password = os.environ.get("VEILPROOF_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    try:
        e = Keystore(paths(home).keystore).create(name, password)
    except VeilproofError as err:
        fail(err)
    console.print(f"{e.name}: {e.address} ({e.path})")


@account_app.command("list")
def list_(home: str | None = Home) -> None:
    """List keystores (addresses only)."""
    t = Table("name", "address", "file")
    for e in Keystore(paths(home).keystore).list():
        t.add_row(e.name, e.address, str(e.path))
    console.print(t)
