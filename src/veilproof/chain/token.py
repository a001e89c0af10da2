"""``Token``: the VEIL ERC-20 (contracts/Token.vy), minted by its owner until Rewards takes over."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Receipt


class Token(ContractFacade):
    CONTRACT = "Token"

    def balance_of(self, address: str) -> int:
        return int(self._call("balanceOf", to_checksum_address(address)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", to_checksum_address(owner), to_checksum_address(spender)))

    def total_supply(self) -> int:
        return int(self._call("totalSupply"))

    def transfer(self, to: str, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("transfer", to_checksum_address(to), amount, sender=sender)

    def approve(self, spender: str, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("approve", to_checksum_address(spender), amount, sender=sender)

    def burn(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("burn", amount, sender=sender)

    def mint(self, to: str, amount: int, *, sender: LocalAccount) -> Receipt:
        """New tokens for ``to``: the owner (until it renounces) or the minter (Rewards)."""
        return self._send("mint", to_checksum_address(to), amount, sender=sender)

    def set_minter(self, minter: str, *, sender: LocalAccount) -> Receipt:
        return self._send("set_minter", to_checksum_address(minter), sender=sender)
