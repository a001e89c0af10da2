"""``NodeRegistry``: compute nodes, their endpoints, keys, models and stake (contracts/NodeRegistry.vy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Receipt


@dataclass(frozen=True)
class OnchainNode:
    """``NodeRegistry.node``: zeroed (``registered`` False) for an address never registered."""

    address: str
    endpoint: str
    pubkey: bytes
    stake: int
    unbonding: int
    unbond_release: int
    registered: bool
    slashed_total: int


def job_price(list_price: int, royalty_bps: int, offer: int | None) -> int:
    """What JobMarket.open_job charges (the contract's rule, mirrored so a client can quote a node
    without a transaction): the model's list price when the node has no offer, else the owner's
    royalty amount (list price x royalty_bps, rounded down) plus the node's offer."""
    if offer is None:
        return list_price
    return list_price * royalty_bps // 10_000 + offer


class NodeRegistry(ContractFacade):
    CONTRACT = "NodeRegistry"

    # --- reads -----------------------------------------------------------------------------------
    def read_node(self, address: str) -> OnchainNode:
        (endpoint, pubkey, stake, unbonding, release, registered, slashed) = self._call(
            "node", to_checksum_address(address)
        )
        return OnchainNode(
            address, str(endpoint), bytes(pubkey), int(stake), int(unbonding), int(release), bool(registered),
            int(slashed),
        )  # fmt: skip

    def node_count(self) -> int:
        return int(self._call("node_count"))

    def node_at(self, index: int) -> str:
        """The ``index``-th registered node (registry order, which Rewards' weight rows follow)."""
        return str(self._call("node_at", index))

    def addresses(self, limit: int | None = None) -> list[str]:
        """Registered nodes in registry order, the first ``limit`` only when given."""
        n = self.node_count()
        return [self.node_at(i) for i in range(n if limit is None else min(n, limit))]

    def list_nodes(self) -> list[OnchainNode]:
        """Every registered node, in registry order."""
        return [self.read_node(a) for a in self.addresses()]

    def is_active(self, address: str) -> bool:
        """Registered and bonded at least ``min_stake``: may take jobs."""
        return bool(self._call("is_active", to_checksum_address(address)))

    def serves(self, address: str, model_id: int) -> bool:
        return bool(self._call("serves", to_checksum_address(address), model_id))

    def models_of(self, address: str) -> list[int]:
        return [int(m) for m in self._call("models_of", to_checksum_address(address))]

    def job_terms(self, address: str, model_id: int) -> tuple[bool, bool, int | None]:
        """(active, serves ``model_id``, its offer or None) in one call: what :meth:`is_active`,
        :meth:`serves` and :meth:`offer` read in three (and what the market checks at ``open_job``)."""
        active, serves, has, price = self._call("job_terms", to_checksum_address(address), model_id)
        return bool(active), bool(serves), int(price) if has else None

    def offer(self, address: str, model_id: int) -> int | None:
        """The node's own compute price for ``model_id`` (on top of the owner's royalty); None: no offer,
        its jobs cost the model's list price."""
        has, price = self._call("offer", to_checksum_address(address), model_id)
        return int(price) if has else None

    def min_stake(self) -> int:
        return int(self._call("min_stake"))

    def challenger_bps(self) -> int:
        """The share of a slash (basis points) paid to whoever triggered it, e.g. the refunding client."""
        return int(self._call("challenger_bps"))

    def unbond_delay(self) -> int:
        """Seconds a node's unbonding stake stays slashable before it can be withdrawn."""
        return int(self._call("unbond_delay"))

    # --- subnet indices (Rewards' weight columns) --------------------------------------------------
    def subnet_size(self) -> int:
        """How many subnet indices are taken (at most 64): the length of a validator's weight row."""
        return int(self._call("subnet_size"))

    def subnet_node(self, index: int) -> str:
        """The node holding subnet index ``index`` (a larger stake can take it over later)."""
        return str(self._call("subnet_node", index))

    def subnet(self) -> list[str]:
        """The nodes by subnet index: column ``j`` of a weight row rates ``subnet()[j]``."""
        return [self.subnet_node(j) for j in range(self.subnet_size())]

    def subnet_index(self, address: str) -> int | None:
        """``address``'s subnet index, None when it holds none (unstaked, or outbid by larger stakes)."""
        held, index = self._call("subnet_index", to_checksum_address(address))
        return int(index) if held else None

    # --- a node ----------------------------------------------------------------------------------
    def register(
        self, endpoint: str, pubkey: bytes, model_ids: Sequence[int], *, sender: LocalAccount
    ) -> Receipt:
        return self._send("register", endpoint, pubkey, list(model_ids), sender=sender)

    def set_endpoint(self, endpoint: str, *, sender: LocalAccount) -> Receipt:
        return self._send("set_endpoint", endpoint, sender=sender)

    def set_models(self, model_ids: Sequence[int], *, sender: LocalAccount) -> Receipt:
        return self._send("set_models", list(model_ids), sender=sender)

    def set_offer(self, model_id: int, price: int, *, sender: LocalAccount) -> Receipt:
        """Set the sender's compute price for a model it serves: a job then costs royalty + ``price``."""
        return self._send("set_offer", model_id, price, sender=sender)

    def clear_offer(self, model_id: int, *, sender: LocalAccount) -> Receipt:
        """Drop the sender's offer: its jobs cost the model's list price again."""
        return self._send("clear_offer", model_id, sender=sender)

    def stake(self, amount: int, *, sender: LocalAccount) -> Receipt:
        """Bond ``amount`` VEIL (pulled with transferFrom: approve the registry first)."""
        return self._send("stake", amount, sender=sender)

    def request_unbond(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("request_unbond", amount, sender=sender)

    def withdraw_unbonded(self, *, sender: LocalAccount) -> Receipt:
        return self._send("withdraw_unbonded", sender=sender)

    def claim_subnet_index(self, *, sender: LocalAccount) -> Receipt:
        """Take a subnet index the sender's stake now earns (``stake`` already tries)."""
        return self._send("claim_subnet_index", sender=sender)

    # --- owner -----------------------------------------------------------------------------------
    def authorize(self, slasher: str, allowed: bool, *, sender: LocalAccount) -> Receipt:
        """Allow or forbid a contract (the job market) to slash nodes."""
        return self._send("authorize", to_checksum_address(slasher), allowed, sender=sender)

    def slashes(self, address: str, from_block: int = 0) -> list[dict[str, object]]:
        """Every ``Slashed`` event of ``address``: amount, reason, slasher contract, tx and block
        (what an audit report lists as the node's slashing history)."""
        return [
            {
                "amount": int(lg["args"]["amount"]),
                "reason": str(lg["args"]["reason"]),
                "slasher": str(lg["args"]["slasher"]),
                "tx": "0x" + bytes(lg["transactionHash"]).hex(),
                "block": int(lg["blockNumber"]),
            }
            for lg in self._logs("Slashed", from_block, argument_filters={"node": address})
        ]
