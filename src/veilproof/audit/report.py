"""Gather what the chain says about a pipeline job (or a model) and render it as one HTML report.

Why: an auditor (EU AI Act-style transparency for high-risk AI) must be able to check, without the
weights, which committed models produced a result, from which data and parents, which proofs were
verified on chain in which transactions, and whether the nodes involved were ever slashed. Every
fact in the report is read from the chain through the facades, and every number carries the call
or transaction that shows it, so the report is a map to the evidence, not the evidence itself.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from veilproof.chain.suite import Suite
from veilproof.errors import InputError


@dataclass
class AuditReport:
    """What the report says; ``verdict`` is one line, ``ok`` whether it is a clean bill."""

    title: str
    verdict: str
    ok: bool
    models: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)


def _model_facts(suite: Suite, model_id: int) -> dict[str, Any]:
    m = suite.models.read_model(model_id)
    datasets = []
    for d in suite.models.datasets(model_id):
        ds = suite.models.read_dataset(d)
        datasets.append({"id": d, "merkle_root": ds.merkle_root, "uri": ds.uri, "owner": ds.owner})
    adapter = suite.zk_adapter
    return {
        "id": model_id,
        "name": m.name,
        "owner": m.owner,
        "active": m.active,
        "onnx_hash": m.onnx_hash,
        "zk_vk_hash": m.zk_vk_hash,
        "zk_settings_hash": m.zk_settings_hash,
        "zk_srs_hash": m.zk_srs_hash,
        "training_code_hash": m.training_code_hash,
        "parents": suite.models.parents(model_id),
        "datasets": datasets,
        "vk_registered": bool(adapter and adapter.is_registered(model_id)),
    }


def _node_facts(suite: Suite, address: str) -> dict[str, Any]:
    n = suite.nodes.read_node(address)
    return {
        "address": address,
        "stake": n.stake,
        "slashed_total": n.slashed_total,
        "slashes": suite.nodes.slashes(address),
    }


def audit_job(suite: Suite, job_id: int) -> AuditReport:
    """The report of pipeline job ``job_id`` (PipelineMarket): receipt, stages, models, nodes."""
    pm = suite.pipelines
    if pm is None:
        raise InputError("JOB", "a pipeline job on a deployment with a PipelineMarket", job_id)
    rec = pm.receipt(job_id)
    if rec.status == "none":
        raise InputError("JOB", "an existing pipeline job id", job_id)
    txs = {stage: (tx, block) for stage, tx, block in pm.verification_txs(job_id)}
    stages = []
    for i, model_id in enumerate(rec.stage_models):
        done = i < len(rec.stage_nodes)
        tx, block = txs.get(i, ("", 0))
        stages.append(
            {
                "stage": i,
                "model_id": model_id,
                "node": rec.stage_nodes[i] if done else "",
                "proof_hash": rec.stage_proof_hashes[i] if done else "",
                "verified_tx": tx,
                "block": block,
            }
        )
    rejections: list[dict[str, Any]] = [
        {"stage": s, "node": n, "reason": r} for s, n, r in pm.rejections(job_id)
    ]
    node_addrs = sorted({*rec.stage_nodes, *(r["node"] for r in rejections)})
    nodes = [_node_facts(suite, a) for a in node_addrs]
    models = [_model_facts(suite, m) for m in rec.stage_models]
    unregistered = [m["id"] for m in models if not m["vk_registered"]]
    if rec.settled and not unregistered:
        verdict = (
            f"VERIFIED: all {len(stages)} stages of pipeline {rec.pipeline_id} were proven under their models' "
            "committed keys and linked by committed inputs/outputs on chain"
        )
        ok = True
    elif rec.status == "refunded":
        verdict, ok = f"NOT VERIFIED: job refunded after {len(rec.stage_nodes)}/{len(stages)} stages", False
    else:
        verdict, ok = f"PENDING: {len(rec.stage_nodes)}/{len(stages)} stages verified so far", False
    if rejections:
        verdict += f"; {len(rejections)} rejected stage submission(s), submitter(s) slashed"
    outputs = pm.settled_outputs(job_id) if rec.settled else []
    job = {
        "job_id": job_id,
        "pipeline_id": rec.pipeline_id,
        "client": rec.client,
        "status": rec.status,
        "input_commitment": hex(rec.input_commitment),
        "output_hash": rec.output_hash,
        "outputs": [hex(v) for v in outputs],
        "contract": pm.address,
    }
    return AuditReport(f"Pipeline job {job_id}", verdict, ok, models, stages, job, nodes, rejections)


def audit_model(suite: Suite, model_id: int) -> AuditReport:
    """The report of one model: commitments, lineage (parents, datasets), verifier registration."""
    if not suite.models.exists(model_id):
        raise InputError("MODEL", "a registered model id", model_id)
    facts = _model_facts(suite, model_id)
    models = [facts] + [_model_facts(suite, p) for p in facts["parents"]]
    ok = facts["vk_registered"] and facts["active"]
    verdict = (
        f"COMMITTED: model {model_id} ({facts['name']}) has its verifying key registered; proofs of it are checkable on chain"
        if ok
        else f"NOT CHECKABLE: model {model_id} is {'retired' if not facts['active'] else 'missing a registered verifying key'}"
    )
    return AuditReport(f"Model {model_id}", verdict, bool(ok), models)


def _e(v: object) -> str:
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]], cols: list[str], cls: str) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f'<td class="{_e(c)}">{_e(r.get(c, ""))}</td>' for c in cols) + "</tr>" for r in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_html(report: AuditReport, chain: str = "") -> str:
    """A self-contained HTML page (no scripts, no external assets)."""
    where = f" on {_e(chain)}" if chain else ""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>veilproof audit: {_e(report.title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px;"
        "font-family:monospace;font-size:12px}.ok{color:#060}.bad{color:#a00}</style></head><body>",
        f"<h1>veilproof audit: {_e(report.title)}</h1>",
        f'<p id="verdict" class="{"ok" if report.ok else "bad"}"><b>Verdict:</b> {_e(report.verdict)}</p>',
        f"<p>Every value below is read from the chain{where}; the column names say which call or transaction shows it.</p>",
    ]
    if report.job:
        parts.append("<h2>Receipt (PipelineMarket.receipt)</h2>")
        parts.append(_table([report.job], list(report.job), "receipt"))
    if report.stages:
        parts.append("<h2>Stages: proofs and the transactions that verified them</h2>")
        parts.append(
            _table(
                report.stages, ["stage", "model_id", "node", "proof_hash", "verified_tx", "block"], "stages"
            )
        )
    if report.rejections:
        parts.append("<h2>Rejected stage submissions (StageRejected)</h2>")
        parts.append(_table(report.rejections, ["stage", "node", "reason"], "rejections"))
    parts.append("<h2>Models: commitments and lineage (ModelRegistry.model / parents / datasets)</h2>")
    parts.append(
        _table(
            report.models,
            ["id", "name", "owner", "active", "onnx_hash", "zk_vk_hash", "zk_settings_hash", "zk_srs_hash",
             "training_code_hash", "parents", "datasets", "vk_registered"],
            "models",
        )
    )  # fmt: skip
    if report.nodes:
        parts.append("<h2>Nodes: stake and slashing history (NodeRegistry.node / Slashed)</h2>")
        parts.append(_table(report.nodes, ["address", "stake", "slashed_total", "slashes"], "nodes"))
    parts.append("</body></html>")
    return "\n".join(parts)
