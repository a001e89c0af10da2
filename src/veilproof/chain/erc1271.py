"""ERC-1271: a contract account (an agent's wallet) says whether a signature is its own.

Why here: a job's client may be a contract, and the node accepts the request when that contract
vouches for the signing key. The interface is the standard one, not one of our contracts, so the
ABI is written out instead of compiled from contracts/.
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
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
