"""``veilproof audit JOB|model:ID``: write the HTML audit report of a pipeline job or a model."""

from __future__ import annotations

from pathlib import Path

import typer

from veilproof.cli._common import (
    ChainUrl,
    Home,
    JsonOut,
    console,
    emit_json,
    failing,
    session,
)
from veilproof.errors import InputError


def _parse_target(target: str) -> tuple[str, int]:
    kind, _, num = target.rpartition(":")
    kind = kind or "job"
    if kind not in ("job", "model") or not num.isdigit() or int(num) < 1:
        raise InputError("TARGET", "a pipeline job id (3 or job:3) or a model id (model:2)", target)
    return kind, int(num)


def audit(
    target: str = typer.Argument(..., help="Pipeline job id (`3`, `job:3`) or model id (`model:2`)."),
    out: Path = typer.Option(Path("audit.html"), "--out", "-o", help="Where to write the HTML report."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    json_out: bool = JsonOut,
) -> None:
    """Write an HTML report: receipt, stage proofs and the txs that verified them, models with their
    commitments and lineage, the nodes' slashing history, and a verdict line (docs/pipelines.md)."""
    from veilproof.audit import audit_job, audit_model, render_html

    with failing():
        kind, num = _parse_target(target)
    with session(home, chain_url) as ctx:
        rep = audit_job(ctx.suite, num) if kind == "job" else audit_model(ctx.suite, num)
        out.write_text(render_html(rep, chain=str(chain_url or "")))
    if json_out:
        emit_json({"report": str(out), "verdict": rep.verdict, "ok": rep.ok})
    else:
        console.print(f"{rep.verdict}\nreport written to {out}")
