"""Stealth addresses, ERC-5564 scheme 1 (secp256k1 with view tags): pure cryptography, no chain.

Why stealth addresses: a payment to a node's public address tells every observer which client paid
which node. Instead the payer derives a fresh one-time address from the recipient's published
*meta-address* (spending + viewing public keys); only the recipient can recognise it (viewing key)
and spend from it (spending key).

The scheme, exactly as ERC-5564 specifies it (all curve arithmetic by libsecp256k1 via coincurve):

- payer: ephemeral key ``p_eph``; shared secret ``S = p_eph * P_view``;
  ``s_h = keccak256(S)``; view tag = ``s_h[0]``; stealth public key ``P_spend + s_h * G``;
  stealth address = the Ethereum address of that public key.
- recipient: ``S = p_view * P_eph`` (same point); compare the view tag first (one byte: 255 of 256
  foreign announcements stop here, after one scalar multiplication and one hash), then derive the
  address and compare it with the announced one; stealth private key ``p_spend + s_h mod n``.

Serialisation of ``S`` before hashing: the ERC leaves it implicit, and implementations split.

- ``"xy"`` (our default): the 64-byte uncompressed ``x || y`` (no 0x04 prefix), as the ERC's first
  author's executable specification (nerolation/executable-stealth-address-specs) and Fluidkey do;
  tests/agents/test_stealth.py reproduces that specification's published vector byte for byte.
- ``"compressed"``: the 33-byte compressed point, as ScopeLift's stealth-address-sdk does (noble v2
  ``getSharedSecret`` compresses by default, and the SDK hashes all 33 bytes).

Both give valid but different stealth addresses for the same keys. So the recipient side tries both
(one extra keccak per announcement, the point multiplication is shared; a foreign announcement passes
a view tag with probability 2/256 instead of 1/256), and a payer may pick ``secret_encoding`` for a
recipient known to scan with the other convention.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from coincurve import PrivateKey, PublicKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys
from eth_utils import keccak, to_checksum_address

from veilproof.agents.errors import StealthError

SCHEME_ID = 1
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # ERC-20 transfer(address,uint256)
ETH_SELECTOR = b"\xee" * 4
ETH_TOKEN = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"


def _check_pubkey(data: bytes, name: str) -> bytes:
    if len(data) != 33 or data[0] not in (2, 3):
        raise StealthError(f"{name}: expected a 33-byte compressed secp256k1 key, got {len(data)} bytes")
    try:
        PublicKey(data)
    except ValueError as e:
        raise StealthError(f"{name}: not a point on secp256k1") from e
    return data


def _check_scalar(data: bytes, name: str) -> bytes:
    if len(data) != 32 or not 0 < int.from_bytes(data, "big") < SECP256K1_N:
        raise StealthError(f"{name}: expected a 32-byte secp256k1 private key")
    return data


def _address_of(pub: PublicKey) -> str:
    return eth_keys.PublicKey(pub.format(compressed=False)[1:]).to_checksum_address()


SecretEncoding = Literal["xy", "compressed"]
SECRET_ENCODINGS: tuple[SecretEncoding, ...] = ("xy", "compressed")  # the order a scanner tries them


def _hash_point(point: PublicKey, encoding: SecretEncoding) -> bytes:
    if encoding == "xy":
        return keccak(point.format(compressed=False)[1:])
    if encoding == "compressed":
        return keccak(point.format(compressed=True))
    raise StealthError(f"secret_encoding: expected one of {SECRET_ENCODINGS}, got {encoding!r}")


def _hashed_secret(priv: bytes, pub: PublicKey, encoding: SecretEncoding = "xy") -> bytes:
    """keccak256 of the ECDH point ``priv * pub``, serialised as ``encoding`` (module docstring)."""
    return _hash_point(pub.multiply(priv), encoding)


@dataclass(frozen=True)
class StealthMetaAddress:
    """What a recipient publishes (ERC-6538): spending then viewing public key, compressed."""

    spending_pubkey: bytes
    viewing_pubkey: bytes

    def __post_init__(self) -> None:
        _check_pubkey(self.spending_pubkey, "spending public key")
        _check_pubkey(self.viewing_pubkey, "viewing public key")

    def to_bytes(self) -> bytes:
        return self.spending_pubkey + self.viewing_pubkey

    @classmethod
    def from_bytes(cls, data: bytes) -> StealthMetaAddress:
        if len(data) != 66:
            raise StealthError(f"stealth meta-address: expected 66 bytes, got {len(data)}")
        return cls(bytes(data[:33]), bytes(data[33:]))

    def uri(self, chain: str = "eth") -> str:
        """The ERC-5564 text form ``st:<chain>:0x<spending><viewing>``."""
        return f"st:{chain}:0x{self.to_bytes().hex()}"

    @classmethod
    def from_uri(cls, uri: str) -> StealthMetaAddress:
        parts = uri.split(":")
        if len(parts) != 3 or parts[0] != "st":
            raise StealthError(f"stealth meta-address URI: expected st:<chain>:0x..., got {uri!r}")
        try:
            return cls.from_bytes(bytes.fromhex(parts[2].removeprefix("0x")))
        except ValueError as e:
            raise StealthError(f"stealth meta-address URI: bad hex in {uri!r}") from e


@dataclass(frozen=True, repr=False)
class StealthKeys:
    """A recipient's two private keys. The viewing key alone finds payments; spending needs both."""

    spending_key: bytes
    viewing_key: bytes

    def __post_init__(self) -> None:
        _check_scalar(self.spending_key, "spending key")
        _check_scalar(self.viewing_key, "viewing key")

    def __repr__(self) -> str:  # never print private keys
        return f"StealthKeys(meta={self.meta_address.uri()[:20]}...)"

    @classmethod
    def generate(cls) -> StealthKeys:
        return cls(PrivateKey().secret, PrivateKey().secret)

    @property
    def meta_address(self) -> StealthMetaAddress:
        return StealthMetaAddress(
            PrivateKey(self.spending_key).public_key.format(),
            PrivateKey(self.viewing_key).public_key.format(),
        )


@dataclass(frozen=True)
class StealthAddress:
    """What a payer derives for one payment: where to pay and what to announce."""

    address: str
    ephemeral_pubkey: bytes
    view_tag: int

    def metadata(self, token: str | None = None, amount: int = 0) -> bytes:
        """ERC-5564 metadata: view tag, then selector, token (or 0xEeee... for ETH) and amount."""
        if token is None:
            return (
                bytes([self.view_tag])
                + ETH_SELECTOR
                + bytes.fromhex(ETH_TOKEN[2:])
                + amount.to_bytes(32, "big")
            )
        return (
            bytes([self.view_tag])
            + TRANSFER_SELECTOR
            + bytes.fromhex(to_checksum_address(token)[2:])
            + amount.to_bytes(32, "big")
        )


@dataclass(frozen=True)
class Announcement:
    """One ERC-5564 Announcement event, as read from the announcer's logs."""

    scheme_id: int
    stealth_address: str
    caller: str
    ephemeral_pubkey: bytes
    metadata: bytes
    block_number: int = 0
    tx_hash: str = ""

    @property
    def view_tag(self) -> int | None:
        return self.metadata[0] if self.metadata else None

    def payment(self) -> tuple[str | None, int] | None:
        """(token, amount) from ERC-5564 metadata; token None for ETH; None if not described."""
        md = self.metadata
        if len(md) < 57:
            return None
        selector, token, amount = md[1:5], md[5:25], int.from_bytes(md[25:57], "big")
        if selector == ETH_SELECTOR:
            return None, amount
        if selector == TRANSFER_SELECTOR:
            return to_checksum_address(token), amount
        return None


@dataclass(frozen=True, repr=False)
class FoundPayment:
    """An announcement that belongs to us, with the key that controls its stealth address."""

    announcement: Announcement
    stealth_key: bytes | None  # None when scanning watch-only (no spending key)

    def __repr__(self) -> str:
        return f"FoundPayment({self.announcement.stealth_address}, block {self.announcement.block_number})"

    @property
    def address(self) -> str:
        return self.announcement.stealth_address

    def account(self) -> LocalAccount:
        """An eth-account signer for the stealth address (needs the spending key at scan time)."""
        if self.stealth_key is None:
            raise StealthError("scanned watch-only: pass the spending key to derive the stealth key")
        return Account.from_key(self.stealth_key)


def generate_stealth_address(
    meta: StealthMetaAddress, ephemeral_key: bytes | None = None, *, secret_encoding: SecretEncoding = "xy"
) -> StealthAddress:
    """Payer side: a fresh one-time address for ``meta`` (a random ephemeral key unless given).

    ``secret_encoding="compressed"`` derives the address a recipient on ScopeLift's SDK finds; our
    own scanner finds either (module docstring).
    """
    eph = _check_scalar(ephemeral_key, "ephemeral key") if ephemeral_key is not None else PrivateKey().secret
    s_h = _hashed_secret(eph, PublicKey(meta.viewing_pubkey), secret_encoding)
    if not 0 < int.from_bytes(s_h, "big") < SECP256K1_N:  # probability ~2^-128; a new key fixes it
        if ephemeral_key is not None:
            raise StealthError("ephemeral key gives an out-of-range hashed secret; use another")
        return generate_stealth_address(meta, secrets.token_bytes(32), secret_encoding=secret_encoding)
    stealth_pub = PublicKey(meta.spending_pubkey).add(s_h)  # P_spend + s_h * G
    return StealthAddress(
        address=_address_of(stealth_pub),
        ephemeral_pubkey=PrivateKey(eph).public_key.format(),
        view_tag=s_h[0],
    )


def check_announcement(
    ann: Announcement, viewing_key: bytes, spending_pubkey: bytes, *, use_view_tag: bool = True
) -> bytes | None:
    """Recipient side: the hashed shared secret if ``ann`` pays us, else None.

    Never trusts the announcement: a malformed key, another scheme, a wrong view tag or a stealth
    address that does not match our derivation all return None (tampered or foreign announcements
    are ignored, never raised on). Both serialisations of the shared point are tried (module
    docstring), so payments from wallets of either convention are found.
    """
    if ann.scheme_id != SCHEME_ID or len(ann.ephemeral_pubkey) != 33 or not ann.metadata:
        return None
    try:
        point = PublicKey(ann.ephemeral_pubkey).multiply(viewing_key)
    except ValueError:
        return None
    for encoding in SECRET_ENCODINGS:
        s_h = _hash_point(point, encoding)
        if use_view_tag and s_h[0] != ann.metadata[0]:
            continue  # without tags the address decides; a forged tag on a matching address is refused below
        try:
            stealth_pub = PublicKey(spending_pubkey).add(s_h)
        except ValueError:
            continue
        if _address_of(stealth_pub).lower() != ann.stealth_address.lower():
            continue
        if s_h[0] != ann.metadata[0]:  # correct address but forged tag: the ERC says tag = s_h[0]
            return None
        return s_h
    return None


def compute_stealth_key(spending_key: bytes, hashed_secret: bytes) -> bytes:
    """Stealth private key ``p_spend + s_h mod n`` (libsecp256k1's tweak-add)."""
    return PrivateKey(spending_key).add(hashed_secret).secret


def scan(
    announcements: Iterable[Announcement],
    viewing_key: bytes,
    spending_pubkey: bytes,
    spending_key: bytes | None = None,
    *,
    use_view_tags: bool = True,
) -> list[FoundPayment]:
    """Find our payments among ``announcements``.

    Needs only the viewing key and spending *public* key (a watch-only server can scan); with the
    spending key it also returns each stealth private key.
    """
    _check_scalar(viewing_key, "viewing key")
    _check_pubkey(spending_pubkey, "spending public key")
    found: list[FoundPayment] = []
    for ann in announcements:
        s_h = check_announcement(ann, viewing_key, spending_pubkey, use_view_tag=use_view_tags)
        if s_h is None:
            continue
        key = compute_stealth_key(spending_key, s_h) if spending_key is not None else None
        found.append(FoundPayment(ann, key))
    return found


def scan_with_keys(
    announcements: Iterable[Announcement], keys: StealthKeys, *, use_view_tags: bool = True
) -> list[FoundPayment]:
    """``scan`` with a recipient's full key pair."""
    return scan(
        announcements,
        keys.viewing_key,
        keys.meta_address.spending_pubkey,
        keys.spending_key,
        use_view_tags=use_view_tags,
    )
