"""``veilproof simulate``: the subnet's and the pay-on-proof market's economics, every attack of issues #12 and #14 against honest work."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from veilproof.cli._common import console, err_console, fail, failing


def simulate(
    epochs: int = typer.Option(
        200, help="Epochs to simulate (with --on-chain, a small subnet for this many epochs)."
    ),
    seed: int = typer.Option(0, help="Random seed (same seed, same table)."),
    protocol: str = typer.Option(
        "fixed",
        help="'fixed': the protocol with the fixes of issues #12 and #14; 'today': every hole open and "
        "today's deploy values (slash 50, node stake 100, no fee).",
    ),
    plot_path: str = typer.Option("", "--plot", help="Write a PNG of profit per strategy here."),
    audit_rate: float | None = typer.Option(None, help="Share of FHE jobs that are validator audits."),
    reexec_rate: float | None = typer.Option(
        None, help="Share of deterministic user FHE jobs validators re-execute."
    ),
    slash: float | None = typer.Option(None, help="Slash per caught cheat or missed deadline, VEIL."),
    fee_bps: int | None = typer.Option(None, help="Protocol fee, basis points of the price."),
    cheat_fraction: float | None = typer.Option(
        None, help="Share of eligible jobs the fhe_cheater / zk_swapper nodes cheat on."
    ),
    on_chain: bool = typer.Option(
        False,
        "--on-chain",
        help="Settle every epoch on the real contracts (embedded EVM) and check the mirror.",
    ),
    chain_url: str | None = typer.Option(
        None, "--chain-url", help="With --on-chain: a JSON-RPC chain instead of the embedded one."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Simulate validators, nodes and clients, honest and attacking, and print each one's profit.

    Profit = emissions + job fees + challenger shares - compute spent - slashes - gas. Emissions are
    settled each epoch by the exact Python mirror of Rewards.vy (or, with --on-chain, by the
    contracts themselves). Exits 1 if any attacking strategy profits at least as much as honesty
    (not with --on-chain, whose few epochs check the mirror, not the economics).
    """
    from veilproof.errors import InputError
    from veilproof.incentives.onchain import run_on_chain
    from veilproof.incentives.simulate import SimConfig, plot, run, small_config, today

    if protocol not in ("fixed", "today"):
        fail(InputError("--protocol", "'fixed' or 'today'", protocol))
    gas: list[dict[str, int]] = []
    cfg = (
        small_config(epochs=epochs if epochs != 200 else 3, seed=seed)
        if on_chain
        else SimConfig(epochs=epochs, seed=seed)
    )
    if protocol == "today":
        cfg = today(cfg)
    overrides: dict[str, Any] = {
        "audit_rate": audit_rate,
        "reexec_rate": reexec_rate,
        "slash": slash,
        "fee_bps": fee_bps,
        "cheat_fraction": cheat_fraction,
    }
    with failing():
        cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None}).validate()
    if on_chain:
        err_console.print(
            f"settling {cfg.epochs} epochs on the contracts (each checked against the mirror)..."
        )
        result, gas = run_on_chain(cfg, chain_url)
    else:
        result = run(cfg)
    if plot_path:
        plot(result, plot_path)
    if json_out:
        doc = result.to_json() | {"gas": gas, "plot": plot_path or None}
        print(json.dumps(_no_nan(doc), indent=2))
        raise typer.Exit(0 if on_chain or result.cheaters_lose() else 1)
    t = Table(title=f"profit after {cfg.epochs} epochs (seed {seed}, protocol {protocol})")
    for col in ("strategy", "n", "earnings", "compute", "slashes", "gas", "profit", "vs honest"):
        t.add_column(
            col, justify="left" if col in ("strategy", "unit") else "right", no_wrap=col == "strategy"
        )
    for r in result.rows():
        honest = r.strategy.endswith(":honest")
        style = "green" if honest else ("red" if r.profit < 0 else "yellow")
        vs = (
            ""
            if honest
            else (f"{r.pct_of_honest:.0f}%" if not math.isnan(r.pct_of_honest) else f"{r.vs_honest:+,.0f}")
        )
        t.add_row(
            f"[{style}]{r.strategy}[/]",
            str(r.count),
            f"{r.earnings:,.0f}",
            f"{r.compute:,.0f}",
            f"{r.slashes:,.0f}",
            f"{r.gas:,.0f}",
            f"{r.profit:,.0f}",
            vs,
        )
    # a narrow (or non-)terminal would cut the numbers: print the table at least 100 wide
    (console if console.width >= 100 else Console(width=100)).print(t)
    console.print(
        "VEIL per node, per 1000 VEIL of validator stake, per client; vs honest: % of honest profit"
    )
    if result.locked_out:
        console.print("locked out of a slot: " + ", ".join(f"{k} x{v}" for k, v in result.locked_out.items()))
    if plot_path:
        console.print(f"plot: {plot_path}")
    if on_chain:  # a few epochs check the mirror; the economics need many (run without --on-chain)
        console.print(
            f"{result.chain_checks} epochs settled on chain; contract == mirror on every one. "
            f"gas (max per epoch): commit {max(g['commit'] for g in gas):,}, "
            f"reveal {max(g['reveal'] for g in gas):,}, finalize {max(g['finalize'] for g in gas):,}"
        )
        console.print("(too few epochs for the economics: run without --on-chain for the verdict)")
        return
    if result.cheaters_lose():
        console.print("[green]every attacking strategy profits less than honesty[/]")
    else:
        console.print(
            f"[red]these strategies profit at least as much as honesty: {', '.join(result.losers())}[/]"
        )
    if not result.cheaters_lose():
        raise typer.Exit(1)


def _no_nan(x: object) -> object:
    """JSON has no NaN: a percentage against an honest profit of 0 becomes null."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return x
