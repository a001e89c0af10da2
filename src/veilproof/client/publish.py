"""The model owner's side: register a model, its commitments and lineage on chain.

Builds happen elsewhere (``veilproof.models`` for ZK packages, ``veilproof.fhe`` for FHE bundles);
this module only writes what they produced to ModelRegistry and the ZK verifier adapter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount

from veilproof.chain.suite import Suite
from veilproof.errors import InputError, InsufficientFunds, VeilproofError

if TYPE_CHECKING:
    from veilproof.models.package import ModelPackage

ZERO32 = b"\x00" * 32


def _b32(hex_digest: str, field_name: str) -> bytes:
    h = hex_digest.lower().removeprefix("0x")
    if len(h) != 64:
        raise InputError(field_name, "a 32-byte hex digest", hex_digest)
    return bytes.fromhex(h)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """sha256 Merkle root of ``leaves`` (each leaf hashed; odd nodes promoted): a dataset commitment."""
    if not leaves:
        raise InputError("dataset", "at least one record", 0)
    level = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


@dataclass
class Published:
    model_id: int
    name: str
    commitments: dict[str, str] = field(default_factory=dict)
    gas: dict[str, int] = field(default_factory=dict)
    tx_hashes: dict[str, str] = field(default_factory=dict)  # step -> transaction, same keys as gas


def register_dataset(suite: Suite, owner: LocalAccount, root: bytes, uri: str) -> int:
    rcpt = suite.models.register_dataset(root, uri, sender=owner)
    return suite.models.registered_dataset_id(rcpt)


def publish_model(
    suite: Suite,
    owner: LocalAccount,
    *,
    name: str,
    price: int,
    onnx_hash: str,
    royalty_bps: int = 1_000,
    zk: ModelPackage | None = None,
    fhe_client_hash: str | None = None,
    fhe_server_hash: str | None = None,
    parents: Sequence[int] = (),
    datasets: Sequence[int] = (),
    training_code_hash: str | None = None,
) -> Published:
    """Register a model and set its commitments; for ZK, also register its VKA with the adapter.

    Commitments are immutable once set; a new version is a new model with this one as parent.
    """
    models = suite.models
    if zk is None and fhe_server_hash is None:
        raise InputError("publish", "a ZK package and/or an FHE bundle", None)
    gas: dict[str, int] = {}
    txs: dict[str, str] = {}
    code = _b32(training_code_hash, "training_code_hash") if training_code_hash else ZERO32
    rcpt = models.register_model(
        name, price, royalty_bps, _b32(onnx_hash, "onnx_hash"), parents, datasets, code, sender=owner
    )
    gas["register_model"] = rcpt.gas_used
    txs["register_model"] = rcpt.tx_hash
    model_id = models.registered_model_id(rcpt)
    out = Published(model_id, name, {"onnx_hash": onnx_hash}, gas, txs)
    if zk is not None:
        c = zk.commitments()
        adapter = suite.zk_adapter
        if adapter is None:
            raise InputError(
                "deployment", "a ZK verifier deployed (deploy_zk_verifier)", suite.deployment.extra
            )
        # The vk commitment is the VKA digest the verifier checks, so the chain binds the
        # model id to exactly the key JobMarket verifies against.
        vka_digest = c["zk_vka_digest"]
        rcpt = models.set_zk_commitment(
            model_id,
            _b32(c["zk_settings_hash"], "zk_settings_hash"),
            _b32(vka_digest, "zk_vka_digest"),
            _b32(c["zk_srs_hash"], "zk_srs_hash"),
            sender=owner,
        )
        gas["set_zk_commitment"] = rcpt.gas_used
        txs["set_zk_commitment"] = rcpt.tx_hash
        rcpt = adapter.register_model(model_id, zk.vka_words, sender=owner)
        gas["register_vka"] = rcpt.gas_used
        txs["register_vka"] = rcpt.tx_hash
        out.commitments.update(
            zk_settings_hash=c["zk_settings_hash"], zk_vk_hash=vka_digest, zk_srs_hash=c["zk_srs_hash"]
        )
    if fhe_server_hash is not None:
        if fhe_client_hash is None:
            raise InputError("fhe_client_hash", "the sha256 of client.zip", None)
        rcpt = models.set_fhe_commitment(
            model_id,
            _b32(fhe_client_hash, "fhe_client_hash"),
            _b32(fhe_server_hash, "fhe_server_hash"),
            sender=owner,
        )
        gas["set_fhe_commitment"] = rcpt.gas_used
        txs["set_fhe_commitment"] = rcpt.tx_hash
        out.commitments.update(fhe_client_hash=fhe_client_hash, fhe_server_hash=fhe_server_hash)
    return out


MAX_PIPELINE_STAGES = 8  # contracts/PipelineMarket.vy MAX_STAGES
PUBLISH_SLICE_GAS = 2_100_000  # register_model + set_zk_commitment + VKA (measured 2.06 M, 2-slice MLP)
REGISTER_PIPELINE_GAS = 150_000  # measured 125-142 k for 2 stages (cold / warm pipeline_count)


class PipelinePublishError(VeilproofError):
    """Publishing a pipeline was refused before anything was sent, or a transaction failed part-way.

    ``registered`` holds the model ids already registered (and owned by the publisher) when a later
    transaction failed: re-running the same publish reuses them instead of registering copies.
    """

    def __init__(self, message: str, registered: Sequence[int] = ()) -> None:
        self.registered = list(registered)
        super().__init__(message)


@dataclass
class PublishedPipeline:
    pipeline_id: int
    model_ids: list[int]
    reused_models: list[int] = field(default_factory=list)  # already on chain, owned by the publisher
    reused_pipeline: bool = False
    gas: dict[str, int] = field(default_factory=dict)
    tx_hashes: dict[str, str] = field(default_factory=dict)


def _norm(h: str) -> str:
    return h.lower().removeprefix("0x")


def publish_pipeline(
    suite: Suite,
    owner: LocalAccount,
    packages: Sequence[ModelPackage],
    *,
    name: str,
    price: int,
    royalty_bps: int = 1_000,
    force: bool = False,
) -> PublishedPipeline:
    """Register every slice package as a ZK model (commitments + VKA, as :func:`publish_model`), then
    the ordered list as one pipeline in PipelineMarket.

    Everything that can be refused is checked before the first transaction: a PipelineMarket and a
    ZK adapter deployed, 1..8 stages, and no slice already registered by *another* account (an
    identical model: pass ``force`` to register our own copy). A slice already registered by
    ``owner`` (e.g. by an earlier publish that failed part-way) is reused, its VKA registered if that
    step was missing, and an identical pipeline already registered is reused: re-running a publish
    never registers duplicates. If a transaction still fails, :class:`PipelinePublishError` lists the
    model ids registered so far.
    """
    pm = suite.pipelines
    if pm is None:
        raise PipelinePublishError(
            "this chain's deployment has no PipelineMarket (deployment.json has no 'pipeline_market'): "
            "deploy the suite with `veilproof deploy --pipelines` (or chain.deploy.deploy_pipeline_market "
            "on this deployment); nothing was registered"
        )
    adapter = suite.zk_adapter
    if adapter is None:
        raise PipelinePublishError(
            "this chain's deployment has no ZK verifier adapter: deploy with `veilproof deploy --zk`; "
            "nothing was registered"
        )
    n = len(packages)
    if not 1 <= n <= MAX_PIPELINE_STAGES:
        raise InputError(
            "slices", f"1 to {MAX_PIPELINE_STAGES} slice packages (PipelineMarket.MAX_STAGES)", n
        )
    existing = suite.models.read_models()
    plan: list[int | None] = []  # model id to reuse, or None to register
    for i, pkg in enumerate(packages):
        c = pkg.commitments()
        want = (_norm(c["onnx_hash"]), _norm(c["zk_settings_hash"]), _norm(c["zk_vka_digest"]))
        same = [
            m for m in existing
            if m.active and (_norm(m.onnx_hash), _norm(m.zk_settings_hash), _norm(m.zk_vk_hash)) == want
        ]  # fmt: skip
        mine = [m for m in same if m.owner.lower() == owner.address.lower()]
        if mine:
            plan.append(mine[0].model_id)
        elif same and not force:
            m = same[0]
            raise PipelinePublishError(
                f"slice {i} (package {pkg.manifest_digest}) is already model {m.model_id} ({m.name!r}), "
                f"owned by {m.owner}, not by {owner.address}: publish from that account, or pass --force "
                "to register your own copies; nothing was registered"
            )
        else:
            plan.append(None)
    # Gas money for every transaction, before the first: the usual way to stop half-way is an account
    # that can pay for slice 0 but not for the VKA of slice 1. Measured per slice ~2.06 M gas
    # (register_model ~0.21 M, set_zk_commitment 0.09 M, VKA 1.74 M), register_pipeline ~0.14 M;
    # budgeted with the transactions' gas-limit margin and a fee margin.
    new_slices = sum(1 for m in plan if m is None)
    gas = (PUBLISH_SLICE_GAS * new_slices + REGISTER_PIPELINE_GAS) * 3 // 2
    needed = gas * suite.net.gas_price()
    have = suite.net.balance(owner.address)
    if have < needed:
        raise InsufficientFunds(
            owner.address, have, needed, f"publishing {new_slices} slice models and a pipeline (~{gas:,} gas)"
        )
    out = PublishedPipeline(0, [])
    try:
        for i, (pkg, reuse) in enumerate(zip(packages, plan, strict=True)):
            if reuse is not None:
                out.model_ids.append(reuse)
                out.reused_models.append(reuse)
                if not adapter.is_registered(reuse):  # an earlier publish stopped before its VKA
                    rcpt = adapter.register_model(reuse, pkg.vka_words, sender=owner)
                    out.gas[f"slice{i}.register_vka"] = rcpt.gas_used
                    out.tx_hashes[f"slice{i}.register_vka"] = rcpt.tx_hash
                continue
            pub = publish_model(
                suite, owner, name=f"{name}-slice{i}of{n}", price=price, royalty_bps=royalty_bps,
                onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg,
            )  # fmt: skip
            out.model_ids.append(pub.model_id)
            out.gas |= {f"slice{i}.{k}": v for k, v in pub.gas.items()}
            out.tx_hashes |= {f"slice{i}.{k}": v for k, v in pub.tx_hashes.items()}
        for pid in range(1, pm.pipeline_count() + 1):
            if pm.pipeline_models(pid) == out.model_ids:
                out.pipeline_id, out.reused_pipeline = pid, True
                return out
        rcpt = pm.register_pipeline_tx(out.model_ids, sender=owner)
        out.pipeline_id = pm.registered_pipeline_id(rcpt)
        out.gas["register_pipeline"] = rcpt.gas_used
        out.tx_hashes["register_pipeline"] = rcpt.tx_hash
    except VeilproofError as e:
        new = [m for m in out.model_ids if m not in out.reused_models]
        raise PipelinePublishError(
            f"publishing the pipeline failed after registering models {new or 'none'} "
            f"(reusing {out.reused_models or 'none'}): {e}; fix the cause and re-run the same publish: "
            "it reuses the models you already registered",
            out.model_ids,
        ) from e
    return out
