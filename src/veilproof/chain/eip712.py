"""EIP-712 typed data: one place that turns (domain, struct type, message) into what gets signed.

Why one helper: contracts that check an off-chain consent (AgentRegistry's wallet binding, the
ERC-6538 registry's ``registerKeysOnBehalf``) rebuild the digest from their own domain; a caller
that spells the domain or the struct differently gets a signature the contract rejects. Every
signer here builds the same four-field domain (name, version, chainId, verifyingContract) the
contracts hash, and names its struct fields once, in declaration order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

DOMAIN_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)


@dataclass(frozen=True)
class Eip712Domain:
    """``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)``."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True)
class TypedData:
    """One message of struct type ``primary_type`` (``fields``: (name, type) in declaration order)."""

    domain: Eip712Domain
    primary_type: str
    fields: Sequence[tuple[str, str]]
    message: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The ``full_message`` form of eth_account / ``eth_signTypedData_v4``."""

        def types(fields: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
            return [{"name": n, "type": t} for n, t in fields]

        return {
            "types": {"EIP712Domain": types(DOMAIN_FIELDS), self.primary_type: types(self.fields)},
            "primaryType": self.primary_type,
            "domain": self.domain.to_dict(),
            "message": dict(self.message),
        }

    def signable(self) -> SignableMessage:
        return encode_typed_data(full_message=self.to_dict())

    def domain_separator(self) -> bytes:
        """What a contract's ``DOMAIN_SEPARATOR()`` returns for this domain."""
        return bytes(self.signable().header)

    def digest(self) -> bytes:
        """``keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))``: what is signed and recovered."""
        s = self.signable()
        return keccak(b"\x19" + bytes(s.version) + bytes(s.header) + bytes(s.body))

    def sign(self, signer: LocalAccount) -> bytes:
        """65-byte (r, s, v) signature by ``signer``."""
        return bytes(signer.sign_message(self.signable()).signature)
