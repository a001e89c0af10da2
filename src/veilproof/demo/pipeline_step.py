"""The demo's pipeline step: a model cut into two slices, paid once, settled on one on-chain receipt.

What it shows (issue 18), with real proofs on a real EVM: the breast-cancer MLP is sliced at a layer
boundary (``veilproof model build --slices 2``), each slice is published as its own committed model,
the two form a pipeline on the PipelineMarket; a client escrows one price; an honest node proves
stage 1; a cheating node proves stage 2 on made-up values (a valid proof that does not link to
stage 1's committed output) and is rejected and slashed; the honest node proves stage 2 and the job
settles on one receipt; the audit report is written. The intermediate activations never reach the
chain, only their Poseidon hash.

Runs with ``veilproof demo --pipeline`` (about a minute here: building two slice circuits
dominates, so it is not on by default) or from bench/pipeline.py, which reuses its gas figures.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from veilproof.artifacts.store import ArtifactStore
from veilproof.chain import connect
from veilproof.chain.deploy import (
    ONE_VEIL,
    SuiteParams,
    deploy_pipeline_market,
    deploy_suite,
    deploy_zk_verifier,
)
from veilproof.chain.network import Network
from veilproof.chain.suite import Suite
from veilproof.client.publish import publish_model
from veilproof.zk import evm

PRICE = 10 * ONE_VEIL
SLASH = 50 * ONE_VEIL


@dataclass
class PipelineStepReport:
    """What the step did; gas per route in gas units, times in seconds."""

    job_id: int = 0
    settled: bool = False
    cheater_rejected: str = ""
    cheater_slashed: int = 0
    audit_path: Path | None = None
    verdict: str = ""
    gas: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    max_abs_error_vs_float: float = 0.0


def run_pipeline_step(
    workdir: Path,
    store: ArtifactStore | None = None,
    net: Network | None = None,
    say: Callable[[str], None] = print,
) -> PipelineStepReport:
    """Run the whole story on ``net`` (default: a fresh embedded chain); artifacts cached in ``store``."""
    from veilproof.audit import audit_job, render_html
    from veilproof.models.examples import build_example
    from veilproof.models.slicing import build_sliced, prove_stage, run_onnx
    from veilproof.zk.salt import SALT_ELEMENTS
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    rep = PipelineStepReport()
    workdir.mkdir(parents=True, exist_ok=True)
    store = store or ArtifactStore(workdir / "artifacts")
    t = time.perf_counter()
    ex = build_example("breast_cancer_mlp", workdir / "examples")
    sliced = build_sliced(
        ex.onnx_path, ex.calibration_path, store, 2, work_dir=workdir / "slices", salt_elements=SALT_ELEMENTS
    )
    rep.seconds["build_slices"] = time.perf_counter() - t
    say(f"model cut after {sliced.cuts[0]!r}: slices at 2^{sliced.logrows} rows")

    net = net or connect()
    owner, node, cheater, client = net.new_accounts(4)
    d = deploy_suite(net, owner, SuiteParams.dev(slash_amount=SLASH))
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    deploy_pipeline_market(net, owner, d, slash_amount=SLASH)
    s = Suite.attach(net, d)
    pm = s.pipelines
    assert pm is not None  # just deployed
    stage_ids = [
        publish_model(
            s, owner, name=f"mlp-slice{i}", price=PRICE, onnx_hash=p.commitments()["onnx_hash"], zk=p
        ).model_id
        for i, p in enumerate(sliced.packages)
    ]
    for i, acct in enumerate((node, cheater)):
        s.token.mint(acct.address, 1000 * ONE_VEIL, sender=owner)
        s.nodes.register(f"http://127.0.0.1:{9000 + i}", bytes([2 + i]) * 33, stage_ids, sender=acct)
        s.token.approve(s.nodes.address, 1000 * ONE_VEIL, sender=acct)
        s.nodes.stake(1000 * ONE_VEIL, sender=acct)
    s.token.mint(client.address, 100 * ONE_VEIL, sender=owner)
    s.token.approve(pm.address, PRICE, sender=client)
    pid = pm.register_pipeline(stage_ids, sender=owner)

    x = ex.x_test[0]
    t = time.perf_counter()
    p0, mid = prove_stage(sliced.packages[0], x)
    rep.seconds["prove_stage0"] = time.perf_counter() - t
    t = time.perf_counter()
    p1, out = prove_stage(sliced.packages[1], mid)
    rep.seconds["prove_stage1"] = time.perf_counter() - t
    rep.max_abs_error_vs_float = float(np.max(np.abs(out - run_onnx(ex.onnx_path, x[None])[0])))

    jid, rcpt = pm.open_job(pid, p0.instances[0], PRICE, net.now() + 3600, sender=client)
    rep.job_id = jid
    rep.gas["open_job"] = rcpt.gas_used
    # bind the stage to this node before proving it, so a copied proof pays no one else
    rep.gas["claim_stage"] = pm.claim_stage(jid, 0, sender=node).gas_used
    r0 = pm.submit_stage(jid, 0, p0.proof_bytes, p0.instances, sender=node)
    rep.gas["stage_verify_link"] = r0.receipt.gas_used
    say(f"job {jid}: stage 0 verified and linked to the input commitment ({r0.receipt.gas_used:,} gas)")

    fake, _ = prove_stage(sliced.packages[1], np.zeros(sliced.packages[1].input_shape, np.float32))
    stake = s.nodes.read_node(cheater.address).stake
    pm.claim_stage(jid, 1, sender=cheater)
    bad = pm.submit_stage(jid, 1, fake.proof_bytes, fake.instances, sender=cheater)
    rep.cheater_rejected = bad.reason
    rep.cheater_slashed = stake - s.nodes.read_node(cheater.address).stake
    rep.gas["rejected_stage_slash"] = bad.receipt.gas_used
    say(f"cheater's stage 1 on made-up values: {bad.reason}, slashed {rep.cheater_slashed / ONE_VEIL:g} VEIL")

    pm.claim_stage(jid, 1, sender=node)  # the rejection freed the stage
    r1 = pm.submit_stage(jid, 1, p1.proof_bytes, p1.instances, sender=node)
    rep.gas["last_stage_verify_settle"] = r1.receipt.gas_used
    rec = pm.receipt(jid)
    rep.settled = rec.settled
    say(f"job {jid}: {rec.status} on one receipt, outputs {[round(float(v), 3) for v in out]}")

    report = audit_job(s, jid)
    rep.audit_path = workdir / f"audit-pipeline-job-{jid}.html"
    rep.audit_path.write_text(render_html(report, chain="embedded"))
    rep.verdict = report.verdict
    say(f"audit report: {rep.audit_path}\n  {report.verdict}")
    return rep


if __name__ == "__main__":  # python -m veilproof.demo.pipeline_step [WORKDIR]
    import sys
    import tempfile

    r = run_pipeline_step(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="vp-pipe-"))
    )
    print(r)
