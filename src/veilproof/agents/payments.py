"""Stealth payments on chain: the ERC-6538 registry, the ERC-5564 announcer, paying and scanning.

Why two contracts: the registry is where a recipient (a node, an agent) publishes its meta-address
once; the announcer is the one event stream every recipient scans. A payer needs nothing from the
recipient but its address (to look up the meta-address).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_utils import to_checksum_address

from veilproof.agents.errors import StealthError
from veilproof.agents.stealth import (
    SCHEME_ID,
    Announcement,
    FoundPayment,
    StealthAddress,
    StealthKeys,
    StealthMetaAddress,
    generate_stealth_address,
    scan_with_keys,
)
from veilproof.chain.eip712 import Eip712Domain, TypedData
from veilproof.chain.erc1271 import sign_as_wallet
from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Network, Receipt
from veilproof.chain.token import Token
from veilproof.errors import ChainError, TransactionFailed


class StealthRegistryClient(ContractFacade):
    """Typed access to the ERC-6538 StealthMetaRegistry."""

    CONTRACT = "StealthMetaRegistry"

    def register_keys(self, registrant: LocalAccount, meta: StealthMetaAddress) -> Receipt:
        return self._send("registerKeys", SCHEME_ID, meta.to_bytes(), sender=registrant)

    def entry(self, meta: StealthMetaAddress, nonce: int) -> TypedData:
        """The ERC-6538 ``Erc6538RegistryEntry`` a registrant signs (domain "ERC6538Registry", "1.0")."""
        return TypedData(
            Eip712Domain("ERC6538Registry", "1.0", self.net.chain_id, self.address),
            "Erc6538RegistryEntry",
            (("schemeId", "uint256"), ("stealthMetaAddress", "bytes"), ("nonce", "uint256")),
            {"schemeId": SCHEME_ID, "stealthMetaAddress": meta.to_bytes(), "nonce": nonce},
        )

    def sign_on_behalf(
        self, signer: LocalAccount, meta: StealthMetaAddress, registrant: str | None = None
    ) -> bytes:
        """The registrant's EIP-712 consent, for a relayer to submit (ERC-6538 ``registerKeysOnBehalf``).

        ``registrant`` defaults to ``signer`` (an EOA). For an AgentWallet, pass the wallet and sign
        with its agent key: the entry does not name the registrant, so the signature is wrapped in
        the wallet's own domain (ERC-7739) and cannot register the same keys for another wallet.
        """
        who = to_checksum_address(registrant or signer.address)
        typed = self.entry(meta, int(self._call("nonceOf", who)))
        if who == to_checksum_address(signer.address):
            return typed.sign(signer)
        return sign_as_wallet(signer, who, self.net.chain_id, typed.digest())

    def register_on_behalf(
        self, relayer: LocalAccount, registrant: str, meta: StealthMetaAddress, signature: bytes
    ) -> Receipt:
        return self._send(
            "registerKeysOnBehalf", to_checksum_address(registrant), SCHEME_ID, signature, meta.to_bytes(),
            sender=relayer,
        )  # fmt: skip

    def meta_address_of(self, registrant: str) -> StealthMetaAddress | None:
        raw = bytes(self._call("stealthMetaAddressOf", to_checksum_address(registrant), SCHEME_ID))
        return StealthMetaAddress.from_bytes(raw) if raw else None

    def require_meta_address(self, registrant: str) -> StealthMetaAddress:
        meta = self.meta_address_of(registrant)
        if meta is None:
            raise StealthError(f"{registrant} has no stealth meta-address in registry {self.address}")
        return meta


class AnnouncerClient(ContractFacade):
    """Typed access to the ERC-5564 StealthAnnouncer: announce, and read announcements back."""

    CONTRACT = "StealthAnnouncer"

    def announce(self, caller: LocalAccount, stealth: StealthAddress, metadata: bytes) -> Receipt:
        return self._send(
            "announce", SCHEME_ID, stealth.address, stealth.ephemeral_pubkey, metadata, sender=caller
        )

    def announcements(self, from_block: int = 0, to_block: int | str = "latest") -> list[Announcement]:
        """Every Announcement in the block range, oldest first."""
        try:
            logs = self._logs("Announcement", from_block, to_block)
        except Exception as e:  # RPC limits, pruned nodes
            raise ChainError(f"reading announcements from {self.address}: {e}") from e
        return [
            Announcement(
                scheme_id=int(lg["args"]["schemeId"]),
                stealth_address=lg["args"]["stealthAddress"],
                caller=lg["args"]["caller"],
                ephemeral_pubkey=bytes(lg["args"]["ephemeralPubKey"]),
                metadata=bytes(lg["args"]["metadata"]),
                block_number=int(lg["blockNumber"]),
                tx_hash="0x" + bytes(lg["transactionHash"]).hex().removeprefix("0x"),
            )
            for lg in logs
        ]

    def scan(self, keys: StealthKeys, from_block: int = 0) -> list[FoundPayment]:
        return scan_with_keys(self.announcements(from_block), keys)


@dataclass(frozen=True)
class StealthPayment:
    """A payment a payer made: where it went and the receipts that made it."""

    stealth: StealthAddress
    token: str | None
    amount: int
    tx_hashes: tuple[str, ...]


def send_eth(net: Network, sender: LocalAccount, to: str, value: int) -> str:
    """A plain ETH transfer signed locally (``Network.transact`` covers contract calls only)."""
    w3 = net.w3
    tx: TransactionDictType = {
        "from": sender.address,
        "to": to_checksum_address(to),
        "value": value,
        "gas": 21_000,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": net.chain_id,
    }
    block = w3.eth.get_block("latest")
    base = int(block.get("baseFeePerGas", 0) or 0)
    tx["maxFeePerGas"] = 2 * base + 10**9
    tx["maxPriorityFeePerGas"] = 10**9
    signed = sender.sign_transaction(tx)
    h = w3.eth.send_raw_transaction(signed.raw_transaction)
    rcpt = w3.eth.wait_for_transaction_receipt(h, timeout=120)
    if rcpt["status"] != 1:
        raise TransactionFailed(f"ETH transfer to {to} failed")
    return "0x" + bytes(h).hex().removeprefix("0x")


def pay_stealth_eth(
    net: Network, payer: LocalAccount, announcer: AnnouncerClient, meta: StealthMetaAddress, amount: int
) -> StealthPayment:
    """Send ETH to a fresh stealth address of ``meta`` and announce it (two transactions)."""
    sa = generate_stealth_address(meta)
    h1 = send_eth(net, payer, sa.address, amount)
    r2 = announcer.announce(payer, sa, sa.metadata(None, amount))
    return StealthPayment(sa, None, amount, (h1, r2.tx_hash))


def pay_stealth_token(
    net: Network,
    payer: LocalAccount,
    token: Token,
    announcer: AnnouncerClient,
    meta: StealthMetaAddress,
    amount: int,
) -> StealthPayment:
    """Transfer an ERC-20 to a fresh stealth address of ``meta`` and announce it (two transactions)."""
    sa = generate_stealth_address(meta)
    r1 = token.transfer(sa.address, amount, sender=payer)
    r2 = announcer.announce(payer, sa, sa.metadata(token.address, amount))
    return StealthPayment(sa, str(token.address), amount, (r1.tx_hash, r2.tx_hash))
