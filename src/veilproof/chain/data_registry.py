"""``DataRegistry``: consented datasets, versions, paid compute-to-data (contracts/DataRegistry.vy).

Why per-record consent on chain: a curator cannot publish a record its subject did not sign for
(the contract recovers each EIP-712 signature), and a revocation is a transaction the subject sends
itself, so no curator or host can hide it. Versions are not claimed by the curator but computed by
the contract from the list of record hashes (the Merkle roots below are a bit-for-bit mirror of the
contract's), which is what makes "a new version excludes revoked records" checkable: the contract
refuses a revoked record outright. The design and its limits are in docs/data-market.md.

Reverts come back as the typed errors of :mod:`veilproof.errors` (``ConsentForged``,
``ConsentExpired``, ...), each a ``ContractReverted`` with the contract's reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from veilproof.chain.eip712 import Eip712Domain, TypedData
from veilproof.chain.facade import ContractFacade, hex32
from veilproof.chain.network import Network, Receipt
from veilproof.errors import (
    ConsentExpired,
    ConsentForged,
    ConsentReplayed,
    ConsentRevoked,
    ConsentScope,
    ConsentWrongDataset,
    ContractReverted,
    DataReverted,
    InputError,
    RecordRevoked,
    VersionTainted,
)

DOMAIN_NAME = "VeilproofDataRegistry"
DOMAIN_VERSION = "1"
USE_TRAINING = 1
USE_EVALUATION = 2
USE_INFERENCE = 4
USES = {"training": USE_TRAINING, "evaluation": USE_EVALUATION, "inference": USE_INFERENCE}
MAX_BATCH = 64
MAX_RECORDS = 1024
MAX_CONTRIBUTORS = 16
SALE_OPEN, SALE_DELIVERED, SALE_REFUNDED = 1, 2, 3

CONSENT_FIELDS: tuple[tuple[str, str], ...] = (
    ("subject", "address"),
    ("datasetId", "uint256"),
    ("recordHash", "bytes32"),
    ("allowedUses", "uint256"),
    ("expiry", "uint256"),
    ("nonce", "uint256"),
)

# the contract's reason -> the typed error a caller catches
_REASONS: dict[str, type[DataReverted]] = {
    "bad consent signature": ConsentForged,
    "consent expired": ConsentExpired,
    "consent revoked": ConsentRevoked,
    "consent for another dataset": ConsentWrongDataset,
    "consent replayed": ConsentReplayed,
    "consent does not cover uses": ConsentScope,
    "record revoked": RecordRevoked,
    "version has revoked records": VersionTainted,
}


@contextmanager
def _typed_reverts() -> Iterator[None]:
    """Re-raise a DataRegistry revert as the typed error its reason names (else DataReverted)."""
    try:
        yield
    except ContractReverted as e:
        if isinstance(e, DataReverted):
            raise
        cls = _REASONS.get(e.reason, DataReverted)
        raise cls(e.reason, e.function, e.tx_hash) from e


# --- Merkle trees, as the contract builds them -----------------------------------------------------
def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if int.from_bytes(a, "big") < int.from_bytes(b, "big") else keccak(b + a)


def record_leaf(record_hash: bytes) -> bytes:
    """A record's leaf in a version's record tree: keccak256(record_hash)."""
    return keccak(record_hash)


def consent_leaf(record_hash: bytes, subject: str, allowed_uses: int, expiry: int) -> bytes:
    """A record's leaf in a version's consent tree: who consented to which uses, until when."""
    return keccak(
        encode(["bytes32", "address", "uint256", "uint256"], [record_hash, subject, allowed_uses, expiry])
    )


def _layers(leaves: Sequence[bytes]) -> list[list[bytes]]:
    if not leaves:
        raise InputError("leaves", "at least one leaf")
    layers = [list(leaves)]
    while len(layers[-1]) > 1:
        cur = layers[-1]
        nxt = [_hash_pair(cur[2 * i], cur[2 * i + 1]) for i in range(len(cur) // 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])  # an odd node is carried up unchanged
        layers.append(nxt)
    return layers


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root of ``leaves`` (sorted-pair hashing, odd node carried up): the contract's ``_root``."""
    return _layers(leaves)[-1][0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` to the root (a carried-up odd node has no sibling)."""
    proof: list[bytes] = []
    for layer in _layers(leaves)[:-1]:
        sib = index ^ 1
        if sib < len(layer):
            proof.append(layer[sib])
        index //= 2
    return proof


def verify_proof(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    node = leaf
    for s in proof:
        node = _hash_pair(node, s)
    return node == root


def sorted_records(record_hashes: Sequence[bytes]) -> list[bytes]:
    """Record hashes in the strictly increasing order ``commit_version`` requires (duplicates dropped)."""
    return sorted(set(bytes(r) for r in record_hashes), key=lambda r: int.from_bytes(r, "big"))


def version_root(record_hashes: Sequence[bytes]) -> bytes:
    """The record root the contract computes for a version of ``record_hashes``."""
    return merkle_root([record_leaf(r) for r in sorted_records(record_hashes)])


def record_proof(record_hashes: Sequence[bytes], record_hash: bytes) -> list[bytes]:
    """Inclusion proof of ``record_hash`` in the version made of ``record_hashes`` (for ``flag_revoked``)."""
    rs = sorted_records(record_hashes)
    try:
        i = rs.index(bytes(record_hash))
    except ValueError:
        raise InputError("record_hash", "a record of the version", record_hash.hex()) from None
    return merkle_proof([record_leaf(r) for r in rs], i)


# --- consent ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Consent:
    """What a data subject signs: this record, in this dataset, for these uses, until ``expiry``."""

    subject: str
    dataset_id: int
    record_hash: bytes
    allowed_uses: int
    expiry: int
    nonce: int

    def typed(self, chain_id: int, registry: str) -> TypedData:
        return TypedData(
            Eip712Domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, registry),
            "Consent",
            CONSENT_FIELDS,
            {
                "subject": to_checksum_address(self.subject),
                "datasetId": self.dataset_id,
                "recordHash": bytes(self.record_hash),
                "allowedUses": self.allowed_uses,
                "expiry": self.expiry,
                "nonce": self.nonce,
            },
        )

    def sign(self, signer: LocalAccount, chain_id: int, registry: str) -> bytes:
        """The subject's 65-byte signature (``signer`` must be the subject)."""
        if to_checksum_address(signer.address) != to_checksum_address(self.subject):
            raise InputError("signer", f"the consent's subject {self.subject}", signer.address)
        return self.typed(chain_id, registry).sign(signer)

    def as_tuple(self) -> tuple[str, int, bytes, int, int, int]:
        return (
            to_checksum_address(self.subject), self.dataset_id, bytes(self.record_hash), self.allowed_uses,
            self.expiry, self.nonce,
        )  # fmt: skip


@dataclass(frozen=True)
class SignedConsent:
    consent: Consent
    signature: bytes


# --- typed records -------------------------------------------------------------------------------
@dataclass(frozen=True)
class OnchainDataset:
    dataset_id: int
    curator: str
    host: str
    schema_hash: str
    allowed_uses: int
    price: int
    expiry: int
    curator_bps: int
    uri: str


@dataclass(frozen=True)
class OnchainVersion:
    version_id: int
    dataset_id: int
    parent: int
    record_root: str
    consent_root: str
    record_count: int
    created_at: int
    revoked_count: int

    @property
    def tainted(self) -> bool:
        return self.revoked_count > 0


@dataclass(frozen=True)
class Contributors:
    subjects: list[str]
    counts: list[int]
    weights: list[int]


@dataclass(frozen=True)
class OnchainRecord:
    subject: str
    allowed_uses: int
    expiry: int
    revoked: bool

    @property
    def registered(self) -> bool:
        return int(self.subject, 16) != 0


@dataclass(frozen=True)
class Sale:
    sale_id: int
    buyer: str
    version_id: int
    use: int
    algo_hash: str
    price: int
    deadline: int
    state: int
    result_hash: str


class DataRegistry(ContractFacade):
    CONTRACT = "DataRegistry"

    # --- reads -----------------------------------------------------------------------------------
    def token(self) -> str:
        return str(self._call("token"))

    def domain_separator(self) -> bytes:
        return bytes(self._call("DOMAIN_SEPARATOR"))

    def dataset_count(self) -> int:
        return int(self._call("dataset_count"))

    def version_count(self) -> int:
        return int(self._call("version_count"))

    def read_dataset(self, dataset_id: int) -> OnchainDataset:
        with _typed_reverts():
            c, h, schema, uses, price, expiry, bps, uri = self._call("dataset", dataset_id)
        return OnchainDataset(
            dataset_id, c, h, hex32(schema), int(uses), int(price), int(expiry), int(bps), uri
        )

    def read_version(self, version_id: int) -> OnchainVersion:
        with _typed_reverts():
            ds, parent, rroot, croot, n, created, revoked = self._call("version", version_id)
        return OnchainVersion(
            version_id, int(ds), int(parent), hex32(rroot), hex32(croot), int(n), int(created), int(revoked)
        )

    def contributors(self, version_id: int) -> Contributors:
        with _typed_reverts():
            who, counts, weights = self._call("contributors", version_id)
        return Contributors(list(who), [int(c) for c in counts], [int(w) for w in weights])

    def read_record(self, dataset_id: int, record_hash: bytes) -> OnchainRecord:
        subject, uses, expiry, revoked = self._call("record", dataset_id, record_hash)
        return OnchainRecord(subject, int(uses), int(expiry), bool(revoked))

    def is_revoked(self, dataset_id: int, record_hash: bytes, subject: str) -> bool:
        return bool(self._call("is_revoked", dataset_id, record_hash, to_checksum_address(subject)))

    def read_sale(self, sale_id: int) -> Sale:
        with _typed_reverts():
            buyer, vid, use, algo, price, deadline, state, result = self._call("sale", sale_id)
        return Sale(sale_id, buyer, int(vid), int(use), hex32(algo), int(price), int(deadline), int(state),
                    hex32(result))  # fmt: skip

    def pending(self, account: str) -> int:
        return int(self._call("pending", to_checksum_address(account)))

    def escrowed(self) -> int:
        return int(self._call("escrowed"))

    def min_nonce(self, subject: str) -> int:
        return int(self._call("min_nonce", to_checksum_address(subject)))

    def scorer(self) -> str:
        return str(self._call("scorer"))

    def consent(
        self, subject: str, dataset_id: int, record_hash: bytes, allowed_uses: int, expiry: int, nonce: int
    ) -> Consent:
        """A consent message for this registry (sign it with :meth:`Consent.sign` via :meth:`sign_consent`)."""
        return Consent(subject, dataset_id, bytes(record_hash), allowed_uses, expiry, nonce)

    def sign_consent(self, consent: Consent, signer: LocalAccount) -> SignedConsent:
        """The subject signs ``consent`` under this registry's domain."""
        return SignedConsent(consent, consent.sign(signer, self.net.chain_id, self.address))

    # --- curator ---------------------------------------------------------------------------------
    def publish(
        self,
        schema_hash: bytes,
        allowed_uses: int,
        price: int,
        expiry: int,
        curator_bps: int,
        host: str,
        uri: str,
        *,
        sender: LocalAccount,
    ) -> int:
        """Publish a dataset curated by ``sender``; returns its id."""
        with _typed_reverts():
            rcpt = self._send(
                "publish", schema_hash, allowed_uses, price, expiry, curator_bps, to_checksum_address(host), uri,
                sender=sender,
            )  # fmt: skip
        (ev,) = self._events("DatasetPublished", rcpt)
        return int(ev["dataset_id"])

    def set_host(self, dataset_id: int, host: str, *, sender: LocalAccount) -> Receipt:
        with _typed_reverts():
            return self._send("set_host", dataset_id, to_checksum_address(host), sender=sender)

    def register_records(
        self, dataset_id: int, consents: Sequence[SignedConsent], *, sender: LocalAccount
    ) -> list[Receipt]:
        """Register records with their signed consents, in batches of 64 (one transaction each)."""
        out = []
        for i in range(0, len(consents), MAX_BATCH):
            batch = consents[i : i + MAX_BATCH]
            with _typed_reverts():
                out.append(
                    self._send(
                        "register_records",
                        dataset_id,
                        [s.consent.as_tuple() for s in batch],
                        [s.signature for s in batch],
                        sender=sender,
                    )  # fmt: skip
                )
        return out

    def commit_version(
        self, dataset_id: int, parent: int, record_hashes: Sequence[bytes], *, sender: LocalAccount
    ) -> int:
        """Commit a version of ``record_hashes`` (sorted here); returns its id."""
        rs = sorted_records(record_hashes)
        if not 1 <= len(rs) <= MAX_RECORDS:
            raise InputError("record_hashes", f"1..{MAX_RECORDS} distinct records", len(rs))
        with _typed_reverts():
            rcpt = self._send("commit_version", dataset_id, parent, rs, sender=sender)
        (ev,) = self._events("VersionCommitted", rcpt)
        return int(ev["version_id"])

    # --- data subject ------------------------------------------------------------------------------
    def revoke(self, dataset_id: int, record_hash: bytes, *, sender: LocalAccount) -> Receipt:
        """Revoke, for good, ``sender``'s consent for one record."""
        with _typed_reverts():
            return self._send("revoke", dataset_id, record_hash, sender=sender)

    def cancel_consents(self, min_nonce: int, *, sender: LocalAccount) -> Receipt:
        with _typed_reverts():
            return self._send("cancel_consents", min_nonce, sender=sender)

    def flag_revoked(
        self, version_id: int, record_hash: bytes, proof: Sequence[bytes], *, sender: LocalAccount
    ) -> Receipt:
        """Prove a version contains a revoked record; the version can no longer be sold."""
        with _typed_reverts():
            return self._send("flag_revoked", version_id, record_hash, list(proof), sender=sender)

    # --- scores, sales ---------------------------------------------------------------------------
    def post_scores(self, version_id: int, scores: Sequence[int], *, sender: LocalAccount) -> Receipt:
        """Post contributors' quality scores (order of :meth:`contributors`); payouts follow max(score, 0)."""
        with _typed_reverts():
            return self._send("post_scores", version_id, [int(s) for s in scores], sender=sender)

    def buy(self, version_id: int, use: int, algo_hash: bytes, *, sender: LocalAccount) -> int:
        """Escrow one use (the buyer approves the price first); returns the sale id."""
        with _typed_reverts():
            rcpt = self._send("buy", version_id, use, algo_hash, sender=sender)
        (ev,) = self._events("Bought", rcpt)
        return int(ev["sale_id"])

    def deliver(self, sale_id: int, result_hash: bytes, *, sender: LocalAccount) -> Receipt:
        """The host records the result hash; the escrow is split between curator and contributors."""
        with _typed_reverts():
            return self._send("deliver", sale_id, result_hash, sender=sender)

    def refund(self, sale_id: int, *, sender: LocalAccount) -> Receipt:
        with _typed_reverts():
            return self._send("refund", sale_id, sender=sender)

    def withdraw(self, *, sender: LocalAccount) -> Receipt:
        with _typed_reverts():
            return self._send("withdraw", sender=sender)

    def royalty_bps(self, dataset_id: int) -> int:
        """Share (bps) of a model's inference royalty owed to the dataset's contributors (issue #15)."""
        return int(self._call("royalty_bps", dataset_id))

    def set_royalty(self, dataset_id: int, bps: int, *, sender: LocalAccount) -> Receipt:
        """As curator: the data royalty models trained on this dataset owe from their lineage on."""
        with _typed_reverts():
            return self._send("set_royalty", dataset_id, bps, sender=sender)

    def collect_royalty(self, market: str, sale_id: int, *, sender: LocalAccount) -> Receipt:
        """Pull ``market``'s inference royalties owed to a sale and split them like the sale (anyone)."""
        with _typed_reverts():
            return self._send("collect_royalty", to_checksum_address(market), sale_id, sender=sender)

    def set_scorer(self, scorer: str, *, sender: LocalAccount) -> Receipt:
        with _typed_reverts():
            return self._send("set_scorer", to_checksum_address(scorer), sender=sender)

    def registration_order(self, dataset_id: int, from_block: int = 0) -> list[bytes]:
        """The dataset's record hashes in the order they were registered (first registrant first):
        quality scoring credits a duplicated row to whoever registered it first."""
        logs = self._logs("RecordRegistered", from_block, argument_filters={"dataset_id": dataset_id})
        return [bytes(lg["args"]["record_hash"]) for lg in logs]

    def results(self, from_block: int = 0) -> list[dict[str, object]]:
        """Every ``ResultRecorded`` receipt (sale, version, host, record root, algorithm, result)."""
        return [dict(lg["args"]) for lg in self._logs("ResultRecorded", from_block)]


DEFAULT_DELIVERY_WINDOW_S = 24 * 3600


def deploy_data_registry(
    net: Network, owner: LocalAccount, token: str, delivery_window: int = DEFAULT_DELIVERY_WINDOW_S
) -> DataRegistry:
    """Deploy a DataRegistry paying in ``token``; ``owner`` is its owner and first scorer."""
    c = net.deploy("DataRegistry", to_checksum_address(token), delivery_window, sender=owner)
    return DataRegistry(net, c.address)
