"""``ZkVerifierAdapter``: binds each model id to its VKA on EZKL's reusable Halo2 verifier.

(contracts/ZkVerifierAdapter.vy: JobMarket asks it to verify a job's proof; a model owner registers
the VKA words once, and the adapter checks they hash to the model's committed ``zk_vk_hash``.)
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_account.signers.local import LocalAccount

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Receipt


class ZkVerifierAdapter(ContractFacade):
    CONTRACT = "ZkVerifierAdapter"

    def register_model(self, model_id: int, vka_words: Sequence[bytes], *, sender: LocalAccount) -> Receipt:
        """Register the model's VKA (once, by the model's owner)."""
        return self._send("register_model", model_id, list(vka_words), sender=sender)

    def is_registered(self, model_id: int) -> bool:
        return bool(self._call("is_registered", model_id))

    def vka_of(self, model_id: int) -> list[bytes]:
        return [bytes(w) for w in self._call("vka_of", model_id)]

    def verify(self, model_id: int, proof: bytes, instances: Sequence[int]) -> bool:
        """Whether the adapter accepts ``proof`` for ``model_id`` (False when the model is unregistered)."""
        return bool(self._call("verify", model_id, bytes(proof), [int(v) for v in instances]))
