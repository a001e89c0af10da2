"""Entry point of the ``veilproof`` command."""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperGroup

from veilproof.cli._common import quiet_warnings, report_error


class _Root(TyperGroup):
    """The root command: remembers the command line (``--json`` errors) and turns any failure that
    escapes a command into one line via :func:`report_error` instead of a 100-line traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["veilproof.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            report_error(e)


def _version(value: bool) -> None:
    if value:
        from veilproof import __version__

        typer.echo(f"veilproof {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="veilproof",
    cls=_Root,
    help="Private (FHE) and verifiable (ZKML) AI inference on an open network.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold keys and passwords
)


@app.callback()
def _main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar="VEILPROOF_DEBUG", help="Show the traceback of a failure."
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        envvar="VEILPROOF_VERBOSE",
        help="Show the engines' own output (EZKL, Concrete).",
    ),
) -> None:
    ctx.meta["veilproof.debug"] = debug
    ctx.meta["veilproof.verbose"] = verbose
    quiet_warnings()


from veilproof.cli.account_cmds import account_app, transfer, withdraw  # noqa: E402
from veilproof.cli.chain_cmds import chain_app, deploy, status  # noqa: E402
from veilproof.cli.client_cmds import infer, jobs, models, nodes, refund  # noqa: E402
from veilproof.cli.dao_cmds import dao_app  # noqa: E402
from veilproof.cli.data_cmds import data_app  # noqa: E402
from veilproof.cli.demo_cmds import demo  # noqa: E402
from veilproof.cli.explorer_cmds import explorer  # noqa: E402
from veilproof.cli.fl_cmds import fl_app, train_app  # noqa: E402
from veilproof.cli.model_cmds import model_app  # noqa: E402
from veilproof.cli.node_cmds import node_app  # noqa: E402
from veilproof.cli.simulate_cmds import simulate  # noqa: E402
from veilproof.cli.validator_cmds import validator_app  # noqa: E402

app.add_typer(chain_app, name="chain")
app.add_typer(account_app, name="account")
app.add_typer(model_app, name="model")
app.add_typer(data_app, name="data")
app.add_typer(node_app, name="node")
app.command("deploy")(deploy)
app.command("status")(status)
app.command("transfer")(transfer)
app.command("withdraw")(withdraw)
app.command("infer")(infer)
app.command("jobs")(jobs)
app.command("refund")(refund)
app.command("models")(models)
app.command("nodes")(nodes)
app.command("demo")(demo)
app.command("explorer")(explorer)
app.command("simulate")(simulate)
app.add_typer(validator_app, name="validator")
app.add_typer(train_app, name="train")
app.add_typer(fl_app, name="fl")
app.add_typer(dao_app, name="dao")

if __name__ == "__main__":
    app()
