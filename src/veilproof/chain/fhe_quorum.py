"""``FheQuorum``: validators attest that an FHE result is wrong; at quorum the job is disputed.

(contracts/FheQuorum.vy: a stake-weighted quorum of re-executions makes ``JobMarket.dispute_fhe``
refund the client and slash the node. The quorum's denominator is the validator stake at the job's
first attestation; attesters' stake is locked in Rewards until the window closes. Winning attesters
``collect`` their share of the slash reward; an attestation left without a quorum when the window
closes is refuted: ``settle_refuted`` pays part of its stake to the accused node.)
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Receipt


@dataclass(frozen=True)
class Attestation:
    """One ``Attested`` event: ``validator`` claimed that re-executing ``job_id`` gave ``recomputed_hash``."""

    job_id: int
    validator: str
    recomputed_hash: bytes
    block: int


class FheQuorum(ContractFacade):
    CONTRACT = "FheQuorum"

    def attest_mismatch(self, job_id: int, recomputed_hash: bytes, *, sender: LocalAccount) -> Receipt:
        """Attest that re-executing ``job_id`` gave ``recomputed_hash``, not the node's posted hash."""
        return self._send("attest_mismatch", job_id, recomputed_hash, sender=sender)

    def disputed(self, job_id: int) -> bool:
        return bool(self._call("disputed", job_id))

    def attested(self, job_id: int, validator: str) -> bool:
        return bool(self._call("attested", job_id, to_checksum_address(validator)))

    def attestations(
        self, from_block: int = 0, to_block: int | str | None = None, *, validator: str | None = None
    ) -> list[Attestation]:
        """Attestations in a block range, in log order; only ``validator``'s when given.

        Who reads them: the accused node settles the refuted ones (its compensation), and a validator
        recovers, after a restart, the jobs whose dispute share it may still collect."""
        filters = {"validator": to_checksum_address(validator)} if validator else None
        return [
            Attestation(
                int(lg["args"]["job_id"]),
                to_checksum_address(lg["args"]["validator"]),
                bytes(lg["args"]["recomputed_hash"]),
                int(lg["blockNumber"]),
            )
            for lg in self._logs("Attested", from_block, to_block, filters)
        ]

    def settled(self, job_id: int, attester: str) -> bool:
        """Whether ``attester``'s share of ``job_id`` was collected or its refutation settled."""
        return bool(self._call("settled", job_id, to_checksum_address(attester)))

    def accused(self, job_id: int) -> str:
        """The node ``job_id``'s first attestation accused (the zero address: never attested)."""
        return str(self._call("accused", job_id))

    def quorum_bps(self) -> int:
        return int(self._call("quorum_bps"))

    def false_attest_bps(self) -> int:
        """Share of its attested stake a refuted attestation costs its author (paid to the node)."""
        return int(self._call("false_attest_bps"))

    def set_false_attest_penalty(self, bps: int, *, sender: LocalAccount) -> Receipt:
        """Set :meth:`false_attest_bps` (owner only; at most 1000)."""
        return self._send("set_false_attest_penalty", bps, sender=sender)

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

    def refuted_penalty(self, rcpt: Receipt) -> int:
        """What a ``settle_refuted`` receipt moved from the attester to the accused node."""
        return sum(int(e["penalty"]) for e in self._events("AttestationRefuted", rcpt))

    def claim(self, *, sender: LocalAccount) -> Receipt:
        return self._send("claim", sender=sender)
