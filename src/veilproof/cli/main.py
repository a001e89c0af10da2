"""Entry point of the ``veilproof`` command."""

from __future__ import annotations

import typer

from veilproof.cli.account_cmds import account_app
from veilproof.cli.chain_cmds import chain_app, deploy, status

app = typer.Typer(
    name="veilproof",
    help="Private (FHE) and verifiable (ZKML) AI inference on an open network.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold keys and passwords
)
app.add_typer(chain_app, name="chain")
app.add_typer(account_app, name="account")
app.command("deploy")(deploy)
app.command("status")(status)

if __name__ == "__main__":
    app()
