"""``FheQuorum``: validators attest that an FHE result is wrong; at quorum the job is disputed.

(contracts/FheQuorum.vy: a stake-weighted quorum of re-executions makes ``JobMarket.dispute_fhe``
refund the client and slash the node. The quorum's denominator is the validator stake at the job's
first attestation; attesters' stake is locked in Rewards until the window closes. Winning attesters
``collect`` their share of the slash reward; an attestation left without a quorum when the window
closes is refuted: ``settle_refuted`` pays part of its stake to the accused node.)
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

    def total_at(self, job_id: int) -> int:
        """The validator stake the quorum of ``job_id`` is measured against (0: never attested)."""
        return int(self._call("total_at", job_id))

    def refuted_count(self, validator: str) -> int:
        """How many of ``validator``'s attestations were refuted (settled without a quorum)."""
        return int(self._call("refuted_count", to_checksum_address(validator)))

    def pending(self, address: str) -> int:
        """Slash rewards credited to ``address`` and not claimed yet."""
        return int(self._call("pending", to_checksum_address(address)))

    def collect(self, job_id: int, attester: str, *, sender: LocalAccount) -> Receipt:
        """Credit ``attester`` its share of a disputed job's slash reward (anyone may send it)."""
        return self._send("collect", job_id, to_checksum_address(attester), sender=sender)

    def settle_refuted(self, job_id: int, attester: str, *, sender: LocalAccount) -> Receipt:
        """Charge an attester of a job that was not disputed by its window's close (anyone may)."""
        return self._send("settle_refuted", job_id, to_checksum_address(attester), sender=sender)

    def claim(self, *, sender: LocalAccount) -> Receipt:
        return self._send("claim", sender=sender)
