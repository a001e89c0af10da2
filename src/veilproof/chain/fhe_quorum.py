"""``FheQuorum``: validators attest that an FHE result is wrong; at quorum the job is disputed.

(contracts/FheQuorum.vy: a stake-weighted quorum of re-executions makes ``JobMarket.dispute_fhe``
refund the client and slash the node; the slash reward is shared among the attesters.)
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Receipt


class FheQuorum(ContractFacade):
    CONTRACT = "FheQuorum"

    def attest_mismatch(self, job_id: int, recomputed_hash: bytes, *, sender: LocalAccount) -> Receipt:
        """Attest that re-executing ``job_id`` gave ``recomputed_hash``, not the node's posted hash."""
        return self._send("attest_mismatch", job_id, recomputed_hash, sender=sender)

    def disputed(self, job_id: int) -> bool:
        return bool(self._call("disputed", job_id))

    def attested(self, job_id: int, validator: str) -> bool:
        return bool(self._call("attested", job_id, to_checksum_address(validator)))

    def quorum_bps(self) -> int:
        return int(self._call("quorum_bps"))

    def pending(self, address: str) -> int:
        """Slash rewards credited to ``address`` and not claimed yet."""
        return int(self._call("pending", to_checksum_address(address)))

    def claim(self, *, sender: LocalAccount) -> Receipt:
        return self._send("claim", sender=sender)
