"""``veilproof orders pursue``: enforce pay-on-proof orders a node accepted and never delivered."""

from __future__ import annotations

import typer

from veilproof.cli._common import AccountName, ChainUrl, Home, JsonOut, console, emit_json, failing

orders_app = typer.Typer(help="Pay-on-proof orders (ReceiptMarket): demand and resolve undelivered ones.")


@orders_app.command("pursue")
def pursue(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Demand on chain the orders whose node missed the deadline, and resolve (slash the node, take
    the bond back) those it did not answer in time; forget the ones paid or closed.

    Every pay-on-proof ``infer`` does this first, but a user who places no new order must still be
    able to enforce the old ones (the claim window is finite): this runs the same step alone, e.g.
    from a timer."""
    from veilproof.cli.client_cmds import _client

    with failing():
        c = _client(home, chain_url, account)
        left_before = len(c.undelivered_orders())
        done = c.pursue_orders()
        waiting = len(c.undelivered_orders())
    if json_out:
        emit_json({"done": done, "checked": left_before, "waiting": waiting})
        return
    for line in done:
        console.print(line, soft_wrap=True)
    console.print(f"{left_before} undelivered order(s) checked, {len(done)} action(s), {waiting} still open")
