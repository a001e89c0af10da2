"""``veilproof simulate``: the subnet's economics, cheaters against honest work."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from veilproof.cli._common import console, err_console


def simulate(
    epochs: int = typer.Option(
        200, help="Epochs to simulate (with --on-chain, a small subnet for this many epochs)."
    ),
    seed: int = typer.Option(0, help="Random seed."),
    plot_path: str = typer.Option(
        "simulation.png", "--plot", help="Where to write the PNG plot ('' for none)."
    ),
    audit_cost: float = typer.Option(2.0, help="Validator cost per audit query, VEIL."),
    audits: int = typer.Option(4, help="Audit queries per auditing validator per epoch."),
    cheat_fraction: float = typer.Option(
        0.3, help="Share of jobs the substitution / FHE-cheater nodes cheat on."
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
    """Simulate many epochs of validators and nodes with honest and cheating strategies.

    Settles each epoch with the exact Python mirror of Rewards.vy (or, with --on-chain, with the
    contracts themselves) and reports cumulative earnings per strategy.
    """
    from veilproof.incentives.onchain import run_on_chain
    from veilproof.incentives.simulate import SimConfig, plot, run, small_config

    gas: list[dict[str, int]] = []
    if on_chain:
        cfg = small_config(epochs=epochs if epochs != 200 else 3, seed=seed)
    else:
        cfg = SimConfig(epochs=epochs, seed=seed)
    cfg.audit_cost = audit_cost
    cfg.audits_per_validator = audits
    cfg.cheat_fraction = cheat_fraction
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
        console.print_json(
            json.dumps(
                {
                    "epochs": cfg.epochs,
                    "rows": [
                        dict(
                            zip(
                                ["strategy", "unit", "count", "cumulative", "per_epoch", "pct_of_honest"],
                                r,
                                strict=True,
                            )
                        )
                        for r in result.rows()
                    ],
                    "cheaters_lose": result.cheaters_lose(),
                    "chain_checked_epochs": result.chain_checks,
                    "gas": gas,
                    "plot": plot_path or None,
                }
            )
        )
        return
    t = Table(title=f"cumulative earnings after {cfg.epochs} epochs (seed {seed})")
    for col in ("strategy", "count", "cumulative", "per epoch", "% of honest", "unit"):
        t.add_column(
            col, justify="right" if col not in ("strategy", "unit") else "left", no_wrap=col == "strategy"
        )
    for label, unit, count, cum, per, pct in result.rows():
        style = "green" if label.endswith(":honest") else ("red" if cum < 0 else "yellow")
        t.add_row(f"[{style}]{label}[/]", str(count), f"{cum:,.0f}", f"{per:,.1f}", f"{pct:.0f}%", unit)
    console.print(t)
    verdict = (
        "[green]every cheating strategy earns less than honesty[/]"
        if result.cheaters_lose()
        else "[red]some cheating strategy out-earns honesty[/]"
    )
    console.print(verdict)
    if on_chain:
        console.print(
            f"{result.chain_checks} epochs settled on chain; contract == mirror on every one. "
            f"gas (max per epoch): commit {max(g['commit'] for g in gas):,}, reveal {max(g['reveal'] for g in gas):,}, "
            f"finalize {max(g['finalize'] for g in gas):,}"
        )
    if plot_path:
        console.print(f"plot: {plot_path}")
