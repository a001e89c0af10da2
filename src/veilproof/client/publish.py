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
from veilproof.errors import InputError

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
