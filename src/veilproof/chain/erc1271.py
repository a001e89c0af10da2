"""ERC-1271: a contract account (an agent's wallet) says whether a signature is its own.

Why here: a job's client may be a contract, and the node accepts the request when that contract
vouches for the signing key. The interface is the standard one, not one of our contracts, so the
ABI is written out instead of compiled from contracts/.

Why ERC-7739 rehashing: one agent key may control several wallets (and chains). A wallet that
checked a signature of the bare hash would vouch for every signature its key ever made for any
of them. AgentWallet instead checks a signature of its own EIP-712 typed hash of
``PersonalSign(bytes prefixed)`` with ``prefixed`` = the caller's hash (ERC-7739's PersonalSign
workflow), so :func:`sign_as_wallet` must be used to sign for it.
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Network

ERC1271_MAGIC = bytes.fromhex("1626ba7e")  # bytes4(keccak256("isValidSignature(bytes32,bytes)"))
ERC1271_ABI: list[dict[str, Any]] = [
    {
        "name": "isValidSignature",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "h", "type": "bytes32"}, {"name": "s", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]


# AgentWallet's EIP-712 domain (contracts/AgentWallet.vy, read back by ERC-5267 ``eip712Domain()``)
WALLET_DOMAIN_NAME = "VeilproofAgentWallet"
WALLET_DOMAIN_VERSION = "1"
EIP712_DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
PERSONAL_SIGN_TYPEHASH = keccak(b"PersonalSign(bytes prefixed)")  # ERC-7739


def wallet_domain_separator(wallet: str, chain_id: int) -> bytes:
    """The EIP-712 domain separator of AgentWallet ``wallet`` on chain ``chain_id``."""
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                EIP712_DOMAIN_TYPEHASH,
                keccak(WALLET_DOMAIN_NAME.encode()),
                keccak(WALLET_DOMAIN_VERSION.encode()),
                chain_id,
                to_checksum_address(wallet),
            ],
        )
    )


def erc7739_personal_sign_hash(wallet: str, chain_id: int, digest: bytes) -> bytes:
    """What the wallet's key signs so that ``wallet`` vouches for ``digest`` (and no other wallet does):
    ``keccak256(0x1901 || domainSeparator(wallet, chain) || keccak256(PERSONAL_SIGN_TYPEHASH || digest))``."""
    if len(digest) != 32:
        raise ValueError(f"digest: expected 32 bytes, got {len(digest)}")
    struct_hash = keccak(PERSONAL_SIGN_TYPEHASH + bytes(digest))
    return keccak(b"\x19\x01" + wallet_domain_separator(wallet, chain_id) + struct_hash)


def sign_as_wallet(key: LocalAccount, wallet: str, chain_id: int, digest: bytes) -> bytes:
    """65-byte signature by ``key`` (the wallet's agent key) that ``wallet``'s ``isValidSignature``
    accepts for ``digest``: bound to that wallet and chain (ERC-7739 PersonalSign)."""
    wrapped = erc7739_personal_sign_hash(wallet, chain_id, digest)
    return bytes(key.unsafe_sign_hash(Hash32(wrapped)).signature)


class Erc1271(ContractFacade):
    """Any contract implementing ``isValidSignature(bytes32, bytes) -> bytes4``."""

    @classmethod
    def _bind(cls, net: Network, address: str) -> Contract:
        return net.w3.eth.contract(address=to_checksum_address(address), abi=ERC1271_ABI)

    def is_valid_signature(self, digest: bytes, signature: bytes) -> bool:
        """True when the contract answers the magic value for ``signature`` over ``digest``.

        Reverts raise ContractReverted, as any call.
        """
        return bytes(self._call("isValidSignature", digest, signature)) == ERC1271_MAGIC


def has_code(net: Network, address: str) -> bool:
    """Whether ``address`` is a contract (an account without code cannot answer ERC-1271)."""
    return len(net.w3.eth.get_code(to_checksum_address(address))) > 0
