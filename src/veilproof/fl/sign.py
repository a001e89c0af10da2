"""Client signatures on updates: who sent which update is the client's word, not the coordinator's.

Each client signs EIP-712 ``FlUpdate(uint256 jobId,uint256 round,bytes32 updateHash)`` under the
TrainingMarket's domain (name "veilproof TrainingMarket", version "1", chain id, market address) with the
key of the address it joined with. ``TrainingMarket.post_round`` recovers every signature and reverts if one
is not the listed participant's, so the coordinator cannot attribute an update to a participant that did not
send it (nor move a score from one participant to another); :func:`veilproof.fl.commit.check_round` checks
the same off chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

from veilproof.chain.eip712 import Eip712Domain, TypedData

FIELDS = (("jobId", "uint256"), ("round", "uint256"), ("updateHash", "bytes32"))


@dataclass(frozen=True)
class UpdateDomain:
    """Where a signature is valid: one market on one chain, one job."""

    chain_id: int
    market: str
    job_id: int

    def typed(self, rnd: int, update_hash: bytes) -> TypedData:
        return TypedData(
            Eip712Domain("veilproof TrainingMarket", "1", self.chain_id, self.market),
            "FlUpdate",
            FIELDS,
            {"jobId": self.job_id, "round": rnd, "updateHash": update_hash},
        )

    def sign(self, signer: LocalAccount, rnd: int, update_hash: bytes) -> bytes:
        return self.typed(rnd, update_hash).sign(signer)

    def signer(self, rnd: int, update_hash: bytes, signature: bytes) -> str:
        """The address that signed (a wrong signature recovers to some other address)."""
        return str(Account.recover_message(self.typed(rnd, update_hash).signable(), signature=signature))
