"""``veilproof demo``: the main job."""

from __future__ import annotations

from pathlib import Path

import typer

from veilproof.cli._common import JsonOut, console, emit_json, engine_output, err_console, failing, paths


def demo(
    chain_url: str | None = typer.Option(
        None, "--chain-url", help="Run against this JSON-RPC chain (e.g. anvil) instead of the embedded one."
    ),
    workdir: Path | None = typer.Option(
        None, help="Keep node homes, logs and databases here (default: temp)."
    ),
    fl: bool = typer.Option(False, "--fl", help="Also run federated training, serve its model (#16, ~55 s)."),
    fl_only: bool = typer.Option(False, "--fl-only", help="Run only the federated-training step."),
    data: bool = typer.Option(
        False,
        "--data",
        help="Also run the consented data-market step, ending in a paid ZK inference of the bought model (~50 s).",
    ),
    pipeline: bool = typer.Option(
        False,
        "--pipeline",
        help="Run only the pipeline step: a 2-slice model paid once, a stage cheater slashed, one receipt, "
        "an audit report (about a minute).",
    ),
    json_out: bool = JsonOut,
    explorer: bool = typer.Option(
        False, "--explorer", help="At the end, serve the explorer on http://127.0.0.1:8090 until Ctrl-C."
    ),
) -> None:
    """Deploy, publish the health models, start 3 honest nodes + 1 cheater, run ZK, FHE and fraud jobs."""
    from veilproof.demo.run import run_demo

    if fl_only:
        from veilproof.demo.fl_step import run_standalone

        if not run_standalone(console, workdir).passed:
            raise typer.Exit(code=1)
        return
    if pipeline:
        _pipeline_demo(workdir, json_out)
        return

    out = err_console if json_out else console  # with --json, stdout holds only the JSON report
    out.rule("[bold]veilproof demo[/]: private and verifiable inference, paid through escrow")
    out.print(
        "[yellow]note:[/] the KZG SRS is generated locally (no network): fine for a demo, "
        "[bold]unsafe for production[/] (use a ceremony SRS with --srs)."
    )
    with failing(), engine_output(paths(None)):
        report = run_demo(
            chain_url=chain_url, workdir=workdir, console=out, fl=fl, explorer=explorer, data=data
        )
    ok = bool(report.facts.get("cheater_caught")) and all(j["status"] != "open" for j in report.jobs)
    if json_out:
        emit_json(
            {
                "passed": ok, "total_s": report.total_s, "steps": [{"step": t, "s": s} for t, s in report.steps],
                "jobs": report.jobs, "money": report.money, "gas": report.gas, "facts": report.facts,
            }
        )  # fmt: skip
    else:
        console.rule(
            f"[bold {'green' if ok else 'red'}]demo {'passed' if ok else 'FAILED'} in {report.total_s:.0f}s[/]"
        )
    if not ok:
        raise typer.Exit(code=1)


def _pipeline_demo(workdir: Path | None, json_out: bool) -> None:
    """``veilproof demo --pipeline`` (src/veilproof/demo/pipeline_step.py)."""
    import tempfile

    from veilproof.demo.pipeline_step import run_pipeline_step

    out = err_console if json_out else console
    wd = workdir or Path(tempfile.mkdtemp(prefix="veilproof-pipeline-"))
    with failing(), engine_output(paths(None)):
        r = run_pipeline_step(wd, say=out.print)
    ok = r.settled and r.cheater_slashed > 0
    if json_out:
        emit_json(
            {"passed": ok, "verdict": r.verdict, "audit": str(r.audit_path), "gas": r.gas, "s": r.seconds}
        )
    else:
        out.print(f"[bold {'green' if ok else 'red'}]pipeline step {'passed' if ok else 'FAILED'}[/]")
