"""Publish a federated model as a model of the network, with lineage that names its training job.

The ONNX is written by hand (MatMul + Add + Sigmoid, opset 17, float32): the weights are the re-aggregated
last round (:func:`veilproof.fl.coordinator.final_model`), so what is published is what the committed updates
produce, not a file the coordinator could swap. Lineage on ModelRegistry:

- a dataset whose Merkle root commits to the job's posted rounds (per round: model hash, updates root) and
  whose URI names the market, the job id and the round count: ``trainingmarket:<market>/<job>?rounds=N``;
- a dataset for the public validation set (root over its rows);
- ``training_code_hash`` = the job's architecture hash (the same word the sponsor put on chain).

With ``zk_store`` the EZKL package is built and :func:`veilproof.client.publish.publish_model` registers
it (servable by nodes); without, the model is registered with its lineage and ONNX hash only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from eth_account.signers.local import LocalAccount
from onnx import TensorProto, helper, numpy_helper

from veilproof.chain.suite import Suite
from veilproof.chain.training_market import TrainingMarket, deploy_training_royalties
from veilproof.client.publish import Published, merkle_root, publish_model, register_dataset
from veilproof.errors import ConfigError
from veilproof.fl.model import Arrays, load_split

if TYPE_CHECKING:
    from veilproof.artifacts.store import ArtifactStore
    from veilproof.models.package import ModelPackage


def export_onnx(a: Arrays, path: Path, *, logit_only: bool = False) -> Path:
    """``logit_only`` stops at the logit (> 0 means class 1): the sigmoid is monotone, so the class is the
    same, and without it EZKL needs no lookup table: logrows 11 instead of 17 (the build took 295 s)."""
    w = numpy_helper.from_array(a["w"].astype(np.float32).reshape(30, 1), "w")
    b = numpy_helper.from_array(a["b"].astype(np.float32).reshape(1), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "w"], ["z0"]),
            helper.make_node("Add", ["z0", "b"], ["z"]),
        ]
        + ([] if logit_only else [helper.make_node("Sigmoid", ["z"], ["prob"])]),
        "veilproof_fl_logreg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 30])],
        [helper.make_tensor_value_info("z" if logit_only else "prob", TensorProto.FLOAT, [1, 1])],
        [w, b],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="veilproof.fl"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def sha256_file(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


@dataclass(frozen=True)
class FlPublished:
    published: Published
    onnx_path: Path
    job_dataset: int
    validation_dataset: int
    zk_package: ModelPackage | None = None  # what a node serves (when built)
    royalties: str = (
        ""  # the TrainingRoyalties splitter that owns the model (its royalties go to the trainers)
    )


def publish_trained(
    suite: Suite,
    owner: LocalAccount,
    market: TrainingMarket,
    job_id: int,
    model: Arrays,
    out_dir: Path,
    *,
    name: str,
    price: int,
    zk_store: ArtifactStore | None = None,
    logit_only: bool = False,
) -> FlPublished:
    """Export ``model`` to ONNX and register it with lineage naming TrainingMarket job ``job_id``."""
    job = market.job(job_id)
    if job.state != "finished":
        raise ConfigError(f"training job {job_id} is {job.state}: publish after its last round is posted")
    posted = market.rounds(job_id)
    job_root = merkle_root([r.model_hash + r.updates_root for r in posted])
    job_ds = register_dataset(
        suite, owner, job_root, f"trainingmarket:{market.address}/{job_id}?rounds={len(posted)}"
    )
    s = load_split()
    val_ds = register_dataset(
        suite, owner, merkle_root([row.tobytes() for row in s.x_val]), f"veilproof-fl:validation?job={job_id}"
    )
    onnx_path = export_onnx(model, Path(out_dir) / f"{name}.onnx", logit_only=logit_only)
    onnx_hash = sha256_file(onnx_path)
    pkg = None
    if zk_store is not None:
        from veilproof.models.package import build_zk_package

        cal = Path(out_dir) / f"{name}.calibration.npy"
        np.save(cal, s.x_val[:20].astype(np.float32))
        pkg = build_zk_package(onnx_path, cal, zk_store, name=name)
        pub = publish_model(
            suite, owner, name=name, price=price, onnx_hash=onnx_hash, zk=pkg,
            datasets=[job_ds, val_ds], training_code_hash=job.arch_hash.hex(),
        )  # fmt: skip
    else:
        rcpt = suite.models.register_model(
            name, price, 1_000, bytes.fromhex(onnx_hash), [], [job_ds, val_ds], job.arch_hash, sender=owner
        )
        pub = Published(
            suite.models.registered_model_id(rcpt), name, {"onnx_hash": onnx_hash},
            {"register_model": rcpt.gas_used}, {"register_model": rcpt.tx_hash},
        )  # fmt: skip
    # the owner share of every paid inference goes back to the job's participants, by contribution score
    splitter = deploy_training_royalties(
        suite.net, owner, suite.deployment.token, suite.deployment.market, market.address, job_id
    )
    suite.models.transfer_model(pub.model_id, splitter.address, sender=owner)
    return FlPublished(pub, onnx_path, job_ds, val_ds, pkg, splitter.address)
