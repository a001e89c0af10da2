"""``ModelRegistry``: models, their artifact commitments and lineage (contracts/ModelRegistry.vy).

Commitments are the sha256 (ZK: the VKA digest) of what a node must serve; a node refuses a model
whose artifacts differ, and an auditor walks parents and datasets to check provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import ZERO32_HEX, ContractFacade, hex32
from veilproof.chain.network import Receipt


@dataclass(frozen=True)
class OnchainModel:
    """``ModelRegistry.model``; hashes as bare hex (zero = not committed)."""

    model_id: int
    owner: str
    name: str
    price: int
    royalty_bps: int
    onnx_hash: str
    zk_settings_hash: str
    zk_vk_hash: str
    zk_srs_hash: str
    fhe_client_hash: str
    fhe_server_hash: str
    training_code_hash: str
    active: bool

    @property
    def has_zk(self) -> bool:
        return self.zk_vk_hash != ZERO32_HEX

    @property
    def has_fhe(self) -> bool:
        return self.fhe_server_hash != ZERO32_HEX


@dataclass(frozen=True)
class OnchainDataset:
    """``ModelRegistry.dataset`` (the view reverts "unknown dataset" for an id never registered)."""

    dataset_id: int
    owner: str
    merkle_root: str
    uri: str

    @property
    def registered(self) -> bool:
        """A registered dataset has a nonzero root (the registry refuses an empty one)."""
        return self.merkle_root != ZERO32_HEX


@dataclass(frozen=True)
class DataLineage:
    """``ModelRegistry.data_lineage``: the compute-to-data sale a model came from (zero registry: none)."""

    registry: str
    sale_id: int
    version_id: int
    record_root: str
    consent_root: str
    algo_hash: str
    result_hash: str

    @property
    def named(self) -> bool:
        return int(self.registry, 16) != 0


class ModelRegistry(ContractFacade):
    CONTRACT = "ModelRegistry"

    # --- reads -----------------------------------------------------------------------------------
    def model_count(self) -> int:
        return int(self._call("model_count"))

    def dataset_count(self) -> int:
        return int(self._call("dataset_count"))

    def read_model(self, model_id: int) -> OnchainModel:
        """Everything stored about a model (reverts "unknown model" for an id never registered)."""
        (owner, name, price, royalty, onnx, zs, zv, zsrs, fc, fs, code, active) = self._call(
            "model", model_id
        )
        return OnchainModel(
            model_id, owner, name, int(price), int(royalty), hex32(onnx), hex32(zs), hex32(zv), hex32(zsrs),
            hex32(fc), hex32(fs), hex32(code), bool(active),
        )  # fmt: skip

    def read_models(self) -> list[OnchainModel]:
        """Every registered model, by id."""
        return [self.read_model(i) for i in range(1, self.model_count() + 1)]

    def exists(self, model_id: int) -> bool:
        return bool(self._call("exists", model_id))

    def is_active(self, model_id: int) -> bool:
        return bool(self._call("is_active", model_id))

    def parents(self, model_id: int) -> list[int]:
        return [int(p) for p in self._call("parents", model_id)]

    def datasets(self, model_id: int) -> list[int]:
        return [int(d) for d in self._call("datasets", model_id)]

    def read_dataset(self, dataset_id: int) -> OnchainDataset:
        owner, root, uri = self._call("dataset", dataset_id)
        return OnchainDataset(dataset_id, owner, hex32(root), str(uri))

    # --- a model owner ---------------------------------------------------------------------------
    def register_dataset(self, merkle_root: bytes, uri: str, *, sender: LocalAccount) -> Receipt:
        """Register a dataset by the Merkle root of its records; see :meth:`registered_dataset_id`."""
        return self._send("register_dataset", merkle_root, uri, sender=sender)

    def registered_dataset_id(self, rcpt: Receipt) -> int:
        """The id of the one dataset registered in ``rcpt``."""
        (ev,) = self._events("DatasetRegistered", rcpt)
        return int(ev["dataset_id"])

    def register_model(
        self,
        name: str,
        price: int,
        royalty_bps: int,
        onnx_hash: bytes,
        parents: Sequence[int],
        datasets: Sequence[int],
        training_code_hash: bytes,
        *,
        sender: LocalAccount,
    ) -> Receipt:
        """Register a model owned by ``sender``; see :meth:`registered_model_id`."""
        return self._send(
            "register_model", name, price, royalty_bps, onnx_hash, list(parents), list(datasets),
            training_code_hash, sender=sender,
        )  # fmt: skip

    def registered_model_id(self, rcpt: Receipt) -> int:
        """The id of the one model registered in ``rcpt``."""
        (ev,) = self._events("ModelRegistered", rcpt)
        return int(ev["model_id"])

    def set_zk_commitment(
        self, model_id: int, settings_hash: bytes, vk_hash: bytes, srs_hash: bytes, *, sender: LocalAccount
    ) -> Receipt:
        """Commit, once, to the model's EZKL settings, verifying key (VKA digest) and SRS."""
        return self._send("set_zk_commitment", model_id, settings_hash, vk_hash, srs_hash, sender=sender)

    def set_fhe_commitment(
        self, model_id: int, client_hash: bytes, server_hash: bytes, *, sender: LocalAccount
    ) -> Receipt:
        """Commit, once, to the model's FHE client specs and server circuit."""
        return self._send("set_fhe_commitment", model_id, client_hash, server_hash, sender=sender)

    def set_price(self, model_id: int, price: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_price", model_id, price, sender=sender)

    def retire(self, model_id: int, *, sender: LocalAccount) -> Receipt:
        """Stop new jobs for this model, for good (open jobs still complete)."""
        return self._send("retire", model_id, sender=sender)

    def set_data_lineage(
        self, model_id: int, registry: str, sale_id: int, *, sender: LocalAccount
    ) -> Receipt:
        """Name, once, the delivered compute-to-data sale (of DataRegistry ``registry``) the model
        was trained by; the registry copies the version's record and consent roots from it."""
        return self._send("set_data_lineage", model_id, to_checksum_address(registry), sale_id, sender=sender)

    def data_lineage(self, model_id: int) -> DataLineage:
        reg, sale, ver, rroot, croot, algo, result = self._call("data_lineage", model_id)
        return DataLineage(reg, int(sale), int(ver), hex32(rroot), hex32(croot), hex32(algo), hex32(result))

    def data_royalty_bps(self, model_id: int) -> int:
        """Share (bps) of the model's royalty owed to its training data's contributors (#15)."""
        return int(self._call("data_royalty_bps", model_id))

    def transfer_model(self, model_id: int, to: str, *, sender: LocalAccount) -> Receipt:
        return self._send("transfer_model", model_id, to_checksum_address(to), sender=sender)
