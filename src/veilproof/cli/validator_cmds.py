"""``veilproof validator start``: stake in Rewards, audit every epoch, commit and reveal weights."""

from __future__ import annotations

import logging

import typer

from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    attach_suite,
    console,
    emit_json_line,
    engine_output,
    failing,
    load_account,
    open_network,
    paths,
)

validator_app = typer.Typer(
    help="Run a validator: audits that look like user traffic, commit–reveal weights."
)


@validator_app.command("start")
def start(
    inputs: str = typer.Option(..., help="A .npy file of audit inputs (rows drawn like real traffic)."),
    model: list[int] = typer.Option([], "--model", help="ZK model id to audit (repeatable)."),
    fhe_model: list[int] = typer.Option([], "--fhe-model", help="FHE model id to audit (repeatable)."),
    stake: int = typer.Option(1_000, help="VEIL to bond in Rewards (first start only)."),
    audits: int = typer.Option(1, help="Audit jobs per node and model per epoch."),
    disclosures: str | None = typer.Option(
        None, help="Folder where clients disclose FHE jobs for re-execution."
    ),
    interval: float = typer.Option(10.0, help="Seconds between clock checks."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Stake as a validator and loop: audit in the commit window, reveal in the reveal window, finalize."""
    from pathlib import Path

    import numpy as np

    from veilproof.chain.deploy import ONE_VEIL
    from veilproof.validator import DisclosureBox, ModelAudit, Validator, ValidatorConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with failing():
        p = paths(home)
        net = open_network(p, chain_url)
        suite = attach_suite(p, net)
        xs = np.load(inputs)
        specs = [ModelAudit(m, xs) for m in model] + [ModelAudit(m, xs, private=True) for m in fhe_model]
        if not specs:
            raise typer.BadParameter("give at least one --model or --fhe-model")
        v = Validator(
            suite, load_account(p, account), p.home / "validator", specs,
            config=ValidatorConfig(stake=stake * ONE_VEIL, audits_per_model=audits),
            disclosures=DisclosureBox(Path(disclosures)) if disclosures else None,
        )  # fmt: skip
        say = (
            (lambda m: emit_json_line({"event": m}))
            if json_out
            else (lambda m: console.print(f"[dim]{m}[/]"))
        )
        if json_out:
            emit_json_line({"validator": v.account.address, "models": [s.model_id for s in specs]})
        else:
            console.print(f"validator {v.account.address} auditing {len(specs)} model(s); Ctrl-C to stop")
        try:
            with engine_output(p):
                v.run(interval_s=interval, on_event=say)
        except KeyboardInterrupt:
            pass
        finally:
            v.close()
