# pragma version ~=0.4.3
"""
@title Agent registry ("Know Your Agent", in the spirit of ERC-8004 Trustless Agents)
@notice Mints an agent id to its creator. Each agent points to a registration
        document (endpoints, capabilities, accepted trust models: zk, fhe, stake)
        whose keccak256 is kept on chain, so a reader can check the document behind
        the URI was not swapped. The owner may bind a wallet to the agent only with
        that wallet's own signature, so no one can claim someone else's key.
@dev The wallet signs EIP-712 typed data
     SetAgentWallet(uint256 agentId,address wallet,address owner,uint256 nonce,uint256 deadline)
     under domain ("VeilproofAgentRegistry", "1", chain id, this registry).
     EOAs sign with their key; contract wallets (AgentWallet) answer ERC-1271.
     The per-agent nonce is consumed on use: a signature binds once.
"""

from snekmate.utils import eip712_domain_separator
from lib import signatures

# snekmate's EIP-712 domain: cached at deployment, rebuilt if the chain id changes (fork).
# Its EIP-5267 `eip712Domain()` view is not exported (the ABI stays as it was).
initializes: eip712_domain_separator

MAX_URI: constant(uint256) = 256
SET_WALLET_TYPE_HASH: public(constant(bytes32)) = keccak256(
    "SetAgentWallet(uint256 agentId,address wallet,address owner,uint256 nonce,uint256 deadline)"
)

struct Agent:
    owner: address
    uri: String[MAX_URI]
    doc_hash: bytes32
    wallet: address
    registered_at: uint256

event AgentRegistered:
    agent_id: indexed(uint256)
    owner: indexed(address)
    uri: String[MAX_URI]
    doc_hash: bytes32

event AgentUpdated:
    agent_id: indexed(uint256)
    uri: String[MAX_URI]
    doc_hash: bytes32

event AgentTransferred:
    agent_id: indexed(uint256)
    previous_owner: indexed(address)
    new_owner: indexed(address)

event WalletSet:
    agent_id: indexed(uint256)
    wallet: indexed(address)
    nonce: uint256

event WalletCleared:
    agent_id: indexed(uint256)
    wallet: indexed(address)

_agents: HashMap[uint256, Agent]
agent_count: public(uint256)
wallet_nonce: public(HashMap[uint256, uint256])
agent_of_wallet: public(HashMap[address, uint256])


@deploy
def __init__():
    """
    @notice Fix the EIP-712 domain: ("VeilproofAgentRegistry", "1", chain id, this registry).
    """
    eip712_domain_separator.__init__("VeilproofAgentRegistry", "1")


@internal
@view
def _load(agent_id: uint256) -> Agent:
    assert agent_id >= 1 and agent_id <= self.agent_count, "unknown agent"
    return self._agents[agent_id]


@internal
def _clear_wallet(agent_id: uint256):
    wallet: address = self._agents[agent_id].wallet
    if wallet != empty(address):
        self._agents[agent_id].wallet = empty(address)
        self.agent_of_wallet[wallet] = 0
        log WalletCleared(agent_id=agent_id, wallet=wallet)


@external
def register(agent_uri: String[MAX_URI], doc_hash: bytes32) -> uint256:
    """
    @notice Register a new agent owned by the caller.
    @param agent_uri Where the registration document lives (https://, ipfs://, data:).
    @param doc_hash keccak256 of the canonical JSON registration document.
    @return The new agent id (from 1).
    """
    assert len(agent_uri) > 0, "empty uri"
    assert doc_hash != empty(bytes32), "empty doc hash"
    agent_id: uint256 = self.agent_count + 1
    self.agent_count = agent_id
    self._agents[agent_id] = Agent(
        owner=msg.sender, uri=agent_uri, doc_hash=doc_hash, wallet=empty(address), registered_at=block.timestamp
    )
    log AgentRegistered(agent_id=agent_id, owner=msg.sender, uri=agent_uri, doc_hash=doc_hash)
    return agent_id


@external
def update(agent_id: uint256, agent_uri: String[MAX_URI], doc_hash: bytes32):
    """
    @notice Point the agent at a new registration document.
    @param agent_id Agent owned by the caller.
    @param agent_uri New document URI.
    @param doc_hash keccak256 of the new document.
    """
    assert self._load(agent_id).owner == msg.sender, "not agent owner"
    assert len(agent_uri) > 0, "empty uri"
    assert doc_hash != empty(bytes32), "empty doc hash"
    self._agents[agent_id].uri = agent_uri
    self._agents[agent_id].doc_hash = doc_hash
    log AgentUpdated(agent_id=agent_id, uri=agent_uri, doc_hash=doc_hash)


@external
def transfer_agent(agent_id: uint256, new_owner: address):
    """
    @notice Hand the agent to a new owner; the wallet binding is cleared (the new
            owner must get a fresh signature from whatever wallet it binds).
    @param agent_id Agent owned by the caller.
    @param new_owner Receiver, not the zero address.
    """
    assert self._load(agent_id).owner == msg.sender, "not agent owner"
    assert new_owner != empty(address), "zero address"
    self._clear_wallet(agent_id)
    self._agents[agent_id].owner = new_owner
    log AgentTransferred(agent_id=agent_id, previous_owner=msg.sender, new_owner=new_owner)


@external
def set_wallet(agent_id: uint256, wallet: address, deadline: uint256, signature: Bytes[65]):
    """
    @notice Bind `wallet` to the agent, proven by the wallet's own signature.
    @dev The signature covers chain id, this registry, agent id, wallet, owner, the
         agent's current nonce and a deadline; the nonce is consumed here.
    @param agent_id Agent owned by the caller.
    @param wallet EOA or ERC-1271 contract wallet; not bound to another agent.
    @param deadline Unix time after which the signature is void.
    @param signature 65-byte (r, s, v) EIP-712 signature by `wallet` (or its ERC-1271 signer).
    """
    agent: Agent = self._load(agent_id)
    assert agent.owner == msg.sender, "not agent owner"
    assert wallet != empty(address), "zero address"
    assert block.timestamp <= deadline, "signature expired"
    bound: uint256 = self.agent_of_wallet[wallet]
    assert bound == 0 or bound == agent_id, "wallet in use"
    nonce: uint256 = self.wallet_nonce[agent_id]
    struct_hash: bytes32 = keccak256(abi_encode(SET_WALLET_TYPE_HASH, agent_id, wallet, msg.sender, nonce, deadline))
    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(struct_hash)
    # EOA: ecrecover with low s; contract wallet: ERC-1271 isValidSignature
    assert signatures._is_valid_signature_now(wallet, digest, signature), "bad wallet signature"
    self.wallet_nonce[agent_id] = nonce + 1
    self._clear_wallet(agent_id)
    self._agents[agent_id].wallet = wallet
    self.agent_of_wallet[wallet] = agent_id
    log WalletSet(agent_id=agent_id, wallet=wallet, nonce=nonce)


@external
def clear_wallet(agent_id: uint256):
    """
    @notice Unbind the agent's wallet (e.g. its key leaked).
    @param agent_id Agent owned by the caller.
    """
    assert self._load(agent_id).owner == msg.sender, "not agent owner"
    self._clear_wallet(agent_id)


@external
@view
def agent(agent_id: uint256) -> Agent:
    """
    @notice Everything stored about an agent.
    @param agent_id Agent id.
    @return The Agent struct.
    """
    return self._load(agent_id)


@external
@view
def owner_of(agent_id: uint256) -> address:
    """
    @notice Owner of an agent.
    @param agent_id Agent id.
    @return The owner.
    """
    return self._load(agent_id).owner


@external
@view
def wallet_of(agent_id: uint256) -> address:
    """
    @notice Wallet bound to an agent (zero if none).
    @param agent_id Agent id.
    @return The wallet.
    """
    return self._load(agent_id).wallet


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice EIP-712 domain separator of this registry on this chain.
    @return The separator.
    """
    return eip712_domain_separator._domain_separator_v4()
