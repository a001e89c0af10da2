"""Entry point of the ``veilproof`` command."""

from __future__ import annotations

import typer

from veilproof.cli.account_cmds import account_app, transfer, withdraw
from veilproof.cli.chain_cmds import chain_app, deploy, status
from veilproof.cli.client_cmds import infer, jobs, models, nodes
from veilproof.cli.demo_cmds import demo
from veilproof.cli.model_cmds import model_app
from veilproof.cli.node_cmds import node_app

app = typer.Typer(
    name="veilproof",
    help="Private (FHE) and verifiable (ZKML) AI inference on an open network.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold keys and passwords
)
app.add_typer(chain_app, name="chain")
app.add_typer(account_app, name="account")
app.add_typer(model_app, name="model")
app.add_typer(node_app, name="node")
app.command("deploy")(deploy)
app.command("status")(status)
app.command("transfer")(transfer)
app.command("withdraw")(withdraw)
app.command("infer")(infer)
app.command("jobs")(jobs)
app.command("models")(models)
app.command("nodes")(nodes)
app.command("demo")(demo)
from veilproof.cli.simulate_cmds import simulate  # noqa: E402

app.command("simulate")(simulate)
from veilproof.cli.validator_cmds import validator_app  # noqa: E402

app.add_typer(validator_app, name="validator")

if __name__ == "__main__":
    app()
