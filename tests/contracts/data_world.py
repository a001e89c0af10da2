"""A small data market for the DataRegistry tests: a token, the registry, a curator, a host, a buyer
and three data subjects, each owning a few records of dataset 1 with signed consents."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.chain import Network
from veilproof.chain.data_registry import (
    USE_EVALUATION,
    USE_TRAINING,
    DataRegistry,
    SignedConsent,
    deploy_data_registry,
)
from veilproof.chain.token import Token

ONE = 10**18
PRICE = 10 * ONE
WINDOW = 3600
USES = USE_TRAINING | USE_EVALUATION


def record(subject: str, i: int) -> bytes:
    """A stand-in record hash (the demo hashes real rows)."""
    return keccak(f"{subject}:{i}".encode())


@dataclass
class DataWorld:
    net: Network
    token: Token
    reg: DataRegistry
    owner: LocalAccount
    curator: LocalAccount
    host: LocalAccount
    buyer: LocalAccount
    subjects: list[LocalAccount]
    dataset_id: int = 0
    records: dict[str, list[bytes]] = field(default_factory=dict)
    nonce: int = 0

    @classmethod
    def build(cls, net: Network, curator_bps: int = 1000) -> DataWorld:
        owner, curator, host, buyer, a, b, c = net.new_accounts(7)
        token = Token(net, net.deploy("Token", sender=owner).address)
        reg = deploy_data_registry(net, owner, token.address, WINDOW)
        w = cls(net, token, reg, owner, curator, host, buyer, [a, b, c])
        w.dataset_id = w.publish(curator_bps=curator_bps)
        token.mint(buyer.address, 1_000 * ONE, sender=owner)
        token.approve(reg.address, 2**256 - 1, sender=buyer)
        return w

    def publish(self, curator_bps: int = 1000, uses: int = USES) -> int:
        return self.reg.publish(
            keccak(b"schema:v1"), uses, PRICE, self.net.now() + 30 * 86400, curator_bps, self.host.address,
            "ipfs://dataset", sender=self.curator,
        )  # fmt: skip

    def sign(
        self,
        subject: LocalAccount,
        rec: bytes,
        *,
        dataset_id: int | None = None,
        uses: int = USES,
        expiry: int | None = None,
        nonce: int | None = None,
    ) -> SignedConsent:
        if nonce is None:
            self.nonce += 1
            nonce = self.nonce
        c = self.reg.consent(
            subject.address, self.dataset_id if dataset_id is None else dataset_id, rec, uses,
            self.net.now() + 10 * 86400 if expiry is None else expiry, nonce,
        )  # fmt: skip
        return self.reg.sign_consent(c, subject)

    def contribute(self, counts: list[int]) -> list[bytes]:
        """Each subject consents to ``counts[i]`` records; the curator registers them all."""
        signed = []
        for s, n in zip(self.subjects, counts, strict=True):
            recs = [record(s.address, i) for i in range(n)]
            self.records[s.address] = recs
            signed += [self.sign(s, r) for r in recs]
        self.reg.register_records(self.dataset_id, signed, sender=self.curator)
        return [r for recs in self.records.values() for r in recs]

    def held(self) -> int:
        """What the registry owes: pending balances of every actor plus open escrow."""
        actors = [self.curator, self.host, self.buyer, *self.subjects]
        return sum(self.reg.pending(a.address) for a in actors) + self.reg.escrowed()
