"""``veilproof demo``: the main job."""

from __future__ import annotations

from pathlib import Path

import typer

from veilproof.cli._common import console, fail
from veilproof.errors import VeilproofError


def demo(
    chain_url: str | None = typer.Option(
        None, "--chain-url", help="Run against this JSON-RPC chain (e.g. anvil) instead of the embedded one."
    ),
    workdir: Path | None = typer.Option(
        None, help="Keep node homes, logs and databases here (default: temp)."
    ),
) -> None:
    """Deploy, publish the health models, start 3 honest nodes + 1 cheater, run ZK, FHE and fraud jobs."""
    from veilproof.demo.run import run_demo

    console.rule("[bold]veilproof demo[/]: private and verifiable inference, paid through escrow")
    console.print(
        "[yellow]note:[/] the KZG SRS is generated locally (no network): fine for a demo, "
        "[bold]unsafe for production[/] (use a ceremony SRS with --srs)."
    )
    try:
        report = run_demo(chain_url=chain_url, workdir=workdir, console=console)
    except VeilproofError as e:
        fail(e)
    ok = bool(report.facts.get("cheater_caught")) and all(j["status"] != "open" for j in report.jobs)
    console.rule(
        f"[bold {'green' if ok else 'red'}]demo {'passed' if ok else 'FAILED'} in {report.total_s:.0f}s[/]"
    )
    if not ok:
        raise typer.Exit(code=1)
