"""The demo's data-market step (issue #15): contributors consent, one revokes, a buyer trains a model
by compute-to-data, the contributors are paid by measured quality, and the model is published with
its data lineage.

Why a step of its own: the rest of the demo sells inference on models whose training data nobody
consented to. Here the rows of scikit-learn's breast-cancer table belong to three contributor
accounts; each row goes on chain only as a salted hash with its owner's EIP-712 consent, the raw
rows stay AES-GCM-sealed on a data host (FastAPI on 127.0.0.1) and the buyer receives only the fitted
parameters with a receipt the host recorded on chain. Nothing is simulated: the signatures, the
Merkle roots, the payments and the HTTP round trip are the real ones.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.artifacts import ArtifactStore
from veilproof.chain.data_registry import USE_EVALUATION, USE_TRAINING, DataRegistry, deploy_data_registry
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.network import Network
from veilproof.chain.suite import Suite
from veilproof.client import Client
from veilproof.client.publish import publish_model
from veilproof.data.algorithms import LogisticRegressionJob, accuracy
from veilproof.data.buyer import DataBuyer
from veilproof.data.host import DataHost, serve
from veilproof.data.records import breast_cancer_split
from veilproof.data.store import EncryptedStore
from veilproof.demo.network import LocalNetwork
from veilproof.errors import RecordRevoked
from veilproof.node.config import ServedModel

ROWS_PER_CONTRIBUTOR = 50  # 150 consented records: a few seconds of chain work, a useful model
PRICE = 10 * ONE_VEIL
MODEL_PRICE = 2 * ONE_VEIL  # per paid inference of the bought model, like the demo's ZK model
DATA_ROYALTY_BPS = 3000  # 30% of the model owner's royalty on every paid inference goes to the data (#15)


@dataclass
class DataStepReport:
    """What the data step did, for the demo's report and its test. Amounts in token wei."""

    dataset_id: int = 0
    versions: tuple[int, int] = (0, 0)
    records: int = 0
    revoked_refused: bool = False
    accuracy: float = 0.0
    scores: list[int] = field(default_factory=list)
    earnings: dict[str, int] = field(default_factory=dict)
    model_id: int = 0
    lineage_matches: bool = False
    data_royalty_bps: int = 0  # share of each paid inference's royalty owed to the contributors
    c2d_seconds: float = 0.0
    local_seconds: float = 0.0
    wire_bytes: int = 0
    gas: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # the paid ZK inference of the bought model (only when the step runs with a LocalNetwork)
    zk_logrows: int = 0
    zk_build_seconds: float = 0.0
    zk_extra_seconds: float = 0.0  # what the ZK part adds to the step: build, publish, node start, job
    job_status: str = ""
    job_logit: float = 0.0
    local_logit: float = 0.0
    royalty_collected: int = 0  # token wei the DataRegistry pulled from the market for the sale
    royalty_earned: dict[str, int] = field(default_factory=dict)  # each contributor's pending increase

    def rows(self) -> list[tuple[str, str]]:
        out = [
            ("dataset / versions", f"{self.dataset_id} / v{self.versions[0]} -> v{self.versions[1]} ({self.records} records)"),
            ("revoked record kept out of the new version", str(self.revoked_refused)),
            ("inference royalty owed to the contributors", f"{self.data_royalty_bps / 100:.0f}% of the owner's"),
            ("held-out accuracy of the bought model", f"{self.accuracy:.3f}"),
            ("quality scores (bp, Shapley)", ", ".join(map(str, self.scores))),
            ("contributors' earnings (VEIL)", ", ".join(f"{v / ONE_VEIL:g}" for v in self.earnings.values())),
            ("compute-to-data vs local training", f"{self.c2d_seconds:.2f} s vs {self.local_seconds:.2f} s"),
            ("model published with lineage", f"model {self.model_id}: {self.lineage_matches}"),
        ]  # fmt: skip
        if self.job_status:
            out += [
                ("bought model in ZK (EZKL logrows, build s)", f"{self.zk_logrows}, {self.zk_build_seconds:.1f} s"),
                ("time the ZK serving adds (build, node, paid job)", f"{self.zk_extra_seconds:.1f} s"),
                ("paid ZK inference of it", f"{self.job_status}; logit {self.job_logit:.3f} (local {self.local_logit:.3f})"),
                ("data royalty collected from the market (VEIL)", f"{self.royalty_collected / ONE_VEIL:g}"),
                ("contributors' royalty (VEIL)", ", ".join(f"{v / ONE_VEIL:g}" for v in self.royalty_earned.values())),
            ]  # fmt: skip
        return out


def _registry(net: Network, suite: Suite, owner: LocalAccount) -> DataRegistry:
    addr = suite.deployment.extra.get("data_registry")
    if addr:
        return DataRegistry(net, addr)
    reg = deploy_data_registry(net, owner, suite.token.address, 3600)
    suite.deployment.extra["data_registry"] = reg.address
    return reg


def run_data_step(
    net: Network,
    suite: Suite,
    owner: LocalAccount,
    say: Callable[[str], None] = lambda _s: None,
    *,
    lnet: LocalNetwork | None = None,
    store: ArtifactStore | None = None,
) -> DataStepReport:
    """Run the consented-data story on a deployed suite (adds DataRegistry if it is missing).

    With ``lnet`` (a network whose suite has the ZK verifier) and ``store`` (the demo's artifact
    cache), the bought model also goes to ONNX and EZKL, is published with its lineage, served by a
    node of ``lnet``, and one paid ZK inference credits the contributors their royalty."""
    t_start = time.perf_counter()
    rep = DataStepReport()
    reg = _registry(net, suite, owner)
    curator, host_acct, buyer, *subjects = net.new_accounts(6)
    split = breast_cancer_split(len(subjects))
    contributions = [recs[:ROWS_PER_CONTRIBUTOR] for recs in split.contributions]
    suite.token.mint(buyer.address, 5 * PRICE, sender=owner)

    with tempfile.TemporaryDirectory(prefix="veilproof-data-host-") as tmp:
        host = DataHost(reg, host_acct, EncryptedStore(Path(tmp), split.held_out_x.shape[1]))
        uses = USE_TRAINING | USE_EVALUATION
        rep.dataset_id = reg.publish(
            keccak(b"breast-cancer:30xf64+label"), uses, PRICE, net.now() + 90 * 86400, 1000, host_acct.address,
            "sklearn:breast_cancer", sender=curator,
        )  # fmt: skip
        reg.set_royalty(rep.dataset_id, DATA_ROYALTY_BPS, sender=curator)
        say(f"dataset {rep.dataset_id} published; {len(subjects)} contributors sign consents")
        signed, expiry = [], net.now() + 60 * 86400
        for s, recs in zip(subjects, contributions, strict=True):
            for i, r in enumerate(recs):
                c = reg.consent(s.address, rep.dataset_id, r.record_hash, uses, expiry, i)
                signed.append(reg.sign_consent(c, s))
                host.ingest(r)
        rcpts = reg.register_records(rep.dataset_id, signed, sender=curator)
        rep.gas["register_records (64 consents)"] = rcpts[0].gas_used
        hashes = [r.record_hash for recs in contributions for r in recs]
        v1 = reg.commit_version(rep.dataset_id, 0, hashes, sender=curator)

        gone = contributions[0][0].record_hash
        say("contributor 1 revokes one record; the curator must leave it out of v2")
        reg.revoke(rep.dataset_id, gone, sender=subjects[0])
        try:
            reg.commit_version(rep.dataset_id, v1, hashes, sender=curator)
        except RecordRevoked:
            rep.revoked_refused = True
        kept = [h for h in hashes if h != gone]
        v2 = reg.commit_version(rep.dataset_id, v1, kept, sender=curator)
        host.add_version(v2, kept)
        rep.versions, rep.records = (v1, v2), len(kept)

        say("the data host scores contributors (Shapley); the scorer posts the scores")
        scores = host.quality_scores(v2, split.held_out_x, split.held_out_y)
        reg.post_scores(v2, scores, sender=owner)  # the owner is the registry's first scorer
        by_subject = dict(zip(reg.contributors(v2).subjects, scores, strict=True))
        rep.scores = [by_subject[s.address] for s in subjects]  # in the subjects' order, like earnings

        algo = LogisticRegressionJob()
        with serve(host) as url:
            say(f"a buyer trains by compute-to-data on {url}")
            res = DataBuyer(reg, buyer, url).run(v2, algo)
        rep.c2d_seconds = res.seconds
        t0 = time.perf_counter()
        algo.run([host.store.get(h) for h in kept], bytes.fromhex(res.receipt.record_root))
        rep.local_seconds = time.perf_counter() - t0
        rep.accuracy = accuracy(res.package, split.held_out_x, split.held_out_y)

    rep.earnings = {s.address: reg.pending(s.address) for s in subjects}
    models = suite.models
    pkg, t_zk = None, time.perf_counter()
    if lnet is not None and store is not None:
        from veilproof.models.package import build_zk_package  # EZKL: imported only when used

        say("the buyer exports the bought model to ONNX and builds it for ZK (cached after the first run)")
        t0 = time.perf_counter()
        onnx_path, cal_path = export_logreg_onnx(
            res.package, split.held_out_x, store.root.parent / "data-step"
        )
        pkg = build_zk_package(onnx_path, cal_path, store, name="consented_logreg")
        rep.zk_build_seconds = time.perf_counter() - t0
        rep.zk_logrows = pkg.settings.logrows
        pub = publish_model(
            suite, buyer, name="breast-cancer-logreg (consented data)", price=MODEL_PRICE, royalty_bps=2_000,
            onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg, training_code_hash=algo.algo_hash.hex(),
        )  # fmt: skip
        rep.model_id = pub.model_id
    else:
        rcpt = models.register_model(
            "breast-cancer-logreg (consented data)", 0, 0, hashlib.sha256(res.package).digest(), [], [],
            algo.algo_hash, sender=buyer,
        )  # fmt: skip
        rep.model_id = models.registered_model_id(rcpt)
    lin_rcpt = models.set_data_lineage(rep.model_id, reg.address, res.sale_id, sender=buyer)
    rep.gas["set_data_lineage"] = lin_rcpt.gas_used
    rep.data_royalty_bps = models.data_royalty_bps(rep.model_id)
    lin, ver = models.data_lineage(rep.model_id), reg.read_version(v2)
    rep.lineage_matches = (lin.version_id, lin.record_root, lin.consent_root) == (
        v2, ver.record_root, ver.consent_root,
    )  # fmt: skip
    if lnet is not None and store is not None and pkg is not None:
        _paid_zk_inference(
            lnet, store, reg, rep, pkg.manifest_digest, res, subjects, split.held_out_x[0], say
        )
        rep.zk_extra_seconds = time.perf_counter() - t_zk
    rep.seconds = time.perf_counter() - t_start
    return rep


def export_logreg_onnx(package: bytes, calibration_x: np.ndarray, out_dir: Path) -> tuple[Path, Path]:
    """The bought result package as an ONNX graph EZKL can prove: standardise, then one Linear to the
    class-1 logit (> 0 means class 1). Why no sigmoid: it is monotone, so the logit decides the same
    class, and leaving it out keeps the circuit free of a lookup table (fewer logrows, faster proofs).
    The scaler is folded into the Linear's weights in float64 (w/scale, b - w.mean/scale); the
    calibration set is the scorer's held-out rows. Files are named by the package hash, so a re-run
    reuses them and :func:`build_zk_package` hits its cache."""
    import torch

    from veilproof.models.examples import export_onnx

    p = json.loads(package)
    mean, scale = np.array(p["mean"]), np.array(p["scale"])
    coef, intercept = np.array(p["coef"])[0], float(p["intercept"][0])
    w, b = coef / scale, intercept - float(np.dot(coef, mean / scale))
    tag = hashlib.sha256(package).hexdigest()[:16]
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, cal_path = out_dir / f"logreg-{tag}.onnx", out_dir / f"logreg-{tag}-calibration.npy"
    if not onnx_path.is_file():
        lin = torch.nn.Linear(len(w), 1)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w, dtype=torch.float32).reshape(1, -1))
            lin.bias.copy_(torch.tensor([b], dtype=torch.float32))
        lin.eval()
        np.save(cal_path, np.asarray(calibration_x[:32], dtype=np.float32))
        export_onnx(lin, np.asarray(calibration_x[:1], dtype=np.float32), onnx_path)
    return onnx_path, cal_path


def _paid_zk_inference(
    lnet: LocalNetwork,
    store: ArtifactStore,
    reg: DataRegistry,
    rep: DataStepReport,
    manifest_digest: str,
    res: Any,
    subjects: list[LocalAccount],
    x: np.ndarray,
    say: Callable[[str], None],
) -> None:
    """A node of the demo's network serves the bought model (its lineage is checked at start and at
    admission: a tainted one would be refused), a client pays one ZK inference, and the registry
    collects the contributors' share of the owner's royalty from the market."""
    say("a node of the network serves the bought model; a client pays one ZK inference")
    # The node checks lineage only against the DataRegistry its deployment file names (else "foreign").
    lnet.suite.deployment.save(lnet.deployment_file)
    node = lnet.start_node(
        "data-model-node", [ServedModel(rep.model_id, zk_package=manifest_digest)], artifacts_dir=store.root
    )
    client = Client(lnet.suite, lnet.new_funded(20), lnet.root / "data-client", deadline_s=600)
    r = client.infer(rep.model_id, x, node=node.account.address, progress=say)
    rep.job_status, rep.job_logit = r.status, float(r.output[0])
    p = json.loads(res.package)
    z = (x - np.array(p["mean"])) / np.array(p["scale"])
    rep.local_logit = float(z @ np.array(p["coef"])[0] + p["intercept"][0])
    market = lnet.suite.market.address
    before = {s.address: reg.pending(s.address) for s in subjects}
    rep.royalty_collected = lnet.suite.market.data_owed(reg.address, res.sale_id)
    rcpt = reg.collect_royalty(market, res.sale_id, sender=lnet.owner)
    rep.gas["collect_royalty"] = rcpt.gas_used
    rep.royalty_earned = {s.address: reg.pending(s.address) - before[s.address] for s in subjects}
