"""Agent identity ("Know Your Agent"): registration documents and the AgentRegistry contract.

Why a document hash on chain: the URI can point anywhere (https, ipfs, data:), and whoever serves it
could change it. The registry keeps ``keccak256`` of the canonical JSON, so a reader fetching the
document can check it is the one the owner registered.

Why the wallet binding needs the wallet's signature: otherwise anyone could claim a well-reputed
address (or a victim's wallet) as their agent's. The wallet signs EIP-712 typed data naming the
chain, the registry, the agent id, the owner, a one-time nonce and a deadline; an AgentWallet
contract answers ERC-1271 with its agent key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from veilproof.agents.errors import AgentError
from veilproof.chain.eip712 import Eip712Domain, TypedData
from veilproof.chain.erc1271 import sign_as_wallet
from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Receipt

DOC_TYPE = "veilproof-agent/1"
TRUST_MODELS = ("zk", "fhe", "stake")
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class Endpoint:
    """A way to reach the agent (e.g. name "http", "a2a", "mcp")."""

    name: str
    url: str


@dataclass(frozen=True)
class RegistrationDoc:
    """The JSON document behind an agent's URI: who it is, how to reach it, what trust it accepts."""

    name: str
    description: str = ""
    endpoints: tuple[Endpoint, ...] = ()
    capabilities: tuple[str, ...] = ()
    trust_models: tuple[str, ...] = ("zk", "fhe")
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise AgentError("registration document: name is empty")
        bad = [t for t in self.trust_models if t not in TRUST_MODELS]
        if bad:
            raise AgentError(
                f"registration document: unknown trust models {bad}, expected some of {TRUST_MODELS}"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type"] = DOC_TYPE
        d["endpoints"] = [asdict(e) for e in self.endpoints]
        d["capabilities"] = list(self.capabilities)
        d["trust_models"] = list(self.trust_models)
        return d

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces, UTF-8): the same document always hashes the same."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def doc_hash(self) -> bytes:
        return keccak(self.to_json().encode())

    @classmethod
    def from_json(cls, text: str | bytes) -> RegistrationDoc:
        try:
            d = json.loads(text)
            if d.pop("type", DOC_TYPE) != DOC_TYPE:
                raise ValueError("type")
            return cls(
                name=d["name"],
                description=d.get("description", ""),
                endpoints=tuple(Endpoint(**e) for e in d.get("endpoints", [])),
                capabilities=tuple(d.get("capabilities", [])),
                trust_models=tuple(d.get("trust_models", [])),
                extra=d.get("extra", {}),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise AgentError(f"registration document is malformed: {e}") from e


def doc_hash_of(raw: bytes) -> bytes:
    """Hash of a fetched document's bytes, to compare with the on-chain ``doc_hash``."""
    return keccak(raw)


@dataclass(frozen=True)
class AgentRecord:
    agent_id: int
    owner: str
    uri: str
    doc_hash: bytes
    wallet: str | None
    registered_at: int


@dataclass(frozen=True)
class WalletBinding:
    """The EIP-712 message a wallet signs to be bound to an agent."""

    chain_id: int
    registry: str
    agent_id: int
    wallet: str
    owner: str
    nonce: int
    deadline: int

    def typed(self) -> TypedData:
        """The message as the registry hashes it (domain "VeilproofAgentRegistry", version "1")."""
        return TypedData(
            Eip712Domain("VeilproofAgentRegistry", "1", self.chain_id, self.registry),
            "SetAgentWallet",
            (
                ("agentId", "uint256"),
                ("wallet", "address"),
                ("owner", "address"),
                ("nonce", "uint256"),
                ("deadline", "uint256"),
            ),
            {
                "agentId": self.agent_id,
                "wallet": to_checksum_address(self.wallet),
                "owner": to_checksum_address(self.owner),
                "nonce": self.nonce,
                "deadline": self.deadline,
            },
        )

    def typed_data(self) -> dict[str, Any]:
        """The ``eth_signTypedData_v4`` form, for a signer outside this process."""
        return self.typed().to_dict()

    def sign(self, signer: LocalAccount) -> bytes:
        """Sign as the wallet: its own key for an EOA; for an AgentWallet (ERC-1271) its agent key,
        over the typed digest wrapped in the wallet's own domain (ERC-7739), which is what the
        wallet checks."""
        if to_checksum_address(signer.address) == to_checksum_address(self.wallet):
            return self.typed().sign(signer)
        return sign_as_wallet(signer, self.wallet, self.chain_id, self.typed().digest())


class AgentRegistryClient(ContractFacade):
    """Typed access to AgentRegistry."""

    CONTRACT = "AgentRegistry"

    def register(self, owner: LocalAccount, uri: str, doc: RegistrationDoc) -> int:
        """Register an agent owned by ``owner``; returns its id."""
        rcpt = self._send("register", uri, doc.doc_hash(), sender=owner)
        (ev,) = self._events("AgentRegistered", rcpt)
        return int(ev["agent_id"])

    def update(self, owner: LocalAccount, agent_id: int, uri: str, doc: RegistrationDoc) -> Receipt:
        return self._send("update", agent_id, uri, doc.doc_hash(), sender=owner)

    def agent(self, agent_id: int) -> AgentRecord:
        owner, uri, doc_hash, wallet, at = self._call("agent", agent_id)
        return AgentRecord(
            agent_id, owner, uri, bytes(doc_hash), None if wallet == ZERO_ADDRESS else wallet, int(at)
        )

    def verify_doc(self, agent_id: int, raw: bytes) -> bool:
        """Does this fetched document match the hash the owner registered?"""
        return doc_hash_of(raw) == self.agent(agent_id).doc_hash

    def binding(self, agent_id: int, wallet: str, owner: str, ttl: int = 3600) -> WalletBinding:
        """The message ``wallet`` must sign for ``owner`` to bind it now (current nonce)."""
        nonce = int(self._call("wallet_nonce", agent_id))
        return WalletBinding(
            self.net.chain_id, self.address, agent_id, wallet, owner, nonce, self.net.now() + ttl
        )

    def set_wallet(self, owner: LocalAccount, binding: WalletBinding, signature: bytes) -> Receipt:
        return self._send(
            "set_wallet", binding.agent_id, binding.wallet, binding.deadline, signature, sender=owner
        )

    def bind_wallet(
        self, owner: LocalAccount, agent_id: int, wallet: str, wallet_signer: LocalAccount
    ) -> Receipt:
        """Bind in one step when the caller holds both keys (the common case for an owner's own agent)."""
        b = self.binding(agent_id, wallet, owner.address)
        return self.set_wallet(owner, b, b.sign(wallet_signer))

    def agent_of_wallet(self, wallet: str) -> int | None:
        aid = int(self._call("agent_of_wallet", to_checksum_address(wallet)))
        return aid or None


@dataclass(frozen=True)
class Identity:
    """An agent's on-chain identity: its id in a registry."""

    registry: AgentRegistryClient
    agent_id: int

    def record(self) -> AgentRecord:
        return self.registry.agent(self.agent_id)
