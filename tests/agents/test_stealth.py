"""ERC-5564 scheme 1 stealth addresses: derivation, scanning, tampering, and spending on chain."""

from __future__ import annotations

import dataclasses

import pytest
from agents_support import reverts
from coincurve import PrivateKey, PublicKey
from eth_account import Account
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from veilproof.agents import (
    Announcement,
    StealthError,
    StealthKeys,
    StealthMetaAddress,
    generate_stealth_address,
    scan,
    scan_with_keys,
)
from veilproof.agents.payments import pay_stealth_eth, pay_stealth_token, send_eth
from veilproof.agents.stealth import SECP256K1_N, check_announcement

CALLER = "0x" + "11" * 20
TOKEN = "0x" + "22" * 20
N = SECP256K1_N


def _ann(sa, amount: int = 5, **kw) -> Announcement:
    base = Announcement(1, sa.address, CALLER, sa.ephemeral_pubkey, sa.metadata(TOKEN, amount))
    return dataclasses.replace(base, **kw)


def test_matches_erc5564_formulas() -> None:
    """Recompute every step of the ERC independently (integer maths on the scalars)."""
    keys = StealthKeys.generate()
    eph = PrivateKey().secret
    sa = generate_stealth_address(keys.meta_address, eph)
    # shared secret S = eph * P_view = p_view * P_eph
    s1 = PublicKey(keys.meta_address.viewing_pubkey).multiply(eph).format(compressed=False)[1:]
    s2 = PublicKey(sa.ephemeral_pubkey).multiply(keys.viewing_key).format(compressed=False)[1:]
    assert s1 == s2
    s_h = keccak(s1)
    assert sa.view_tag == s_h[0]
    # stealth private key = p_spend + s_h mod n controls the stealth address
    p = (int.from_bytes(keys.spending_key, "big") + int.from_bytes(s_h, "big")) % N
    assert Account.from_key(p.to_bytes(32, "big")).address == sa.address
    assert sa.metadata(TOKEN, 7)[0] == sa.view_tag
    assert sa.metadata(TOKEN, 7)[1:5] == bytes.fromhex("a9059cbb")


def test_recipient_finds_exactly_its_payments() -> None:
    me, other = StealthKeys.generate(), StealthKeys.generate()
    mine = [generate_stealth_address(me.meta_address) for _ in range(5)]
    theirs = [generate_stealth_address(other.meta_address) for _ in range(200)]
    anns = [_ann(s, i) for i, s in enumerate(theirs)]
    for i, s in enumerate(mine):
        anns.insert(i * 40, _ann(s, 1000 + i))
    found = scan_with_keys(anns, me)
    assert [f.address for f in found] == [s.address for s in mine]
    assert [f.announcement.payment() for f in found] == [(TOKEN, 1000 + i) for i in range(5)]
    for f in found:
        assert f.account().address == f.address  # derived key controls the address
    # another viewing key finds none of mine and all of its own
    assert {f.address for f in scan_with_keys(anns, other)} == {s.address for s in theirs}
    stranger = StealthKeys.generate()
    assert scan_with_keys(anns, stranger) == []
    # without view tags the result is the same, just slower
    assert [f.address for f in scan_with_keys(anns, me, use_view_tags=False)] == [s.address for s in mine]


def test_watch_only_scan_finds_but_cannot_spend() -> None:
    me = StealthKeys.generate()
    sa = generate_stealth_address(me.meta_address)
    (f,) = scan([_ann(sa)], me.viewing_key, me.meta_address.spending_pubkey)
    assert f.stealth_key is None
    with pytest.raises(StealthError):
        f.account()


def test_tampered_announcements_are_ignored() -> None:
    me = StealthKeys.generate()
    sa = generate_stealth_address(me.meta_address)
    other = generate_stealth_address(me.meta_address)
    good = _ann(sa)
    assert check_announcement(good, me.viewing_key, me.meta_address.spending_pubkey) is not None
    bad_tag = bytes([(sa.view_tag + 1) % 256]) + good.metadata[1:]
    tampered = [
        dataclasses.replace(good, stealth_address=other.address),  # redirected address
        dataclasses.replace(good, ephemeral_pubkey=other.ephemeral_pubkey),  # swapped ephemeral key
        dataclasses.replace(good, metadata=bad_tag),  # wrong view tag
        dataclasses.replace(good, ephemeral_pubkey=b"\x02" + b"\xff" * 32),  # not on the curve
        dataclasses.replace(good, ephemeral_pubkey=good.ephemeral_pubkey[:32]),  # truncated
        dataclasses.replace(good, ephemeral_pubkey=b"\x04" + good.ephemeral_pubkey[1:]),  # bad prefix
        dataclasses.replace(good, metadata=b""),  # no view tag
        dataclasses.replace(good, scheme_id=2),  # another scheme
    ]
    assert scan_with_keys(tampered, me) == []
    assert scan_with_keys(tampered, me, use_view_tags=False) == []
    assert [f.address for f in scan_with_keys([*tampered, good], me)] == [sa.address]


def test_meta_address_encoding() -> None:
    keys = StealthKeys.generate()
    meta = keys.meta_address
    assert StealthMetaAddress.from_bytes(meta.to_bytes()) == meta
    assert StealthMetaAddress.from_uri(meta.uri()) == meta
    assert meta.uri().startswith("st:eth:0x") and len(meta.to_bytes()) == 66
    with pytest.raises(StealthError):
        StealthMetaAddress.from_bytes(meta.to_bytes()[:65])
    with pytest.raises(StealthError):
        StealthMetaAddress(b"\x04" + meta.spending_pubkey[1:], meta.viewing_pubkey)
    with pytest.raises(StealthError):
        StealthKeys(b"\x00" * 32, keys.viewing_key)
    with pytest.raises(StealthError):
        generate_stealth_address(meta, N.to_bytes(32, "big"))
    assert "StealthKeys(meta=" in repr(keys) and keys.spending_key.hex() not in repr(keys)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, N - 1), st.integers(1, N - 1), st.integers(1, N - 1))
def test_derivation_property(spend: int, view: int, eph: int) -> None:
    keys = StealthKeys(spend.to_bytes(32, "big"), view.to_bytes(32, "big"))
    sa = generate_stealth_address(keys.meta_address, eph.to_bytes(32, "big"))
    (f,) = scan_with_keys([_ann(sa)], keys)
    assert f.account().address == sa.address


# --- on chain ------------------------------------------------------------------------------------
def test_registry_publish_pay_scan_and_spend(aw) -> None:
    net = aw.net
    node_keys = StealthKeys.generate()
    aw.tx(aw.stealth_registry.contract.functions.registerKeys(1, node_keys.meta_address.to_bytes()), aw.node)
    meta = aw.stealth_registry.require_meta_address(aw.node.address)
    assert meta == node_keys.meta_address
    assert aw.stealth_registry.meta_address_of(aw.other.address) is None

    start = net.w3.eth.block_number
    # a VEIL payment and an ETH payment (the ETH pays the gas to move the VEIL)
    p_tok = pay_stealth_token(net, aw.client, aw.token, aw.announcer, meta, 3 * 10**18)
    p_eth = pay_stealth_eth(net, aw.client, aw.announcer, meta, 10**16)
    # noise: payments to someone else
    stranger = StealthKeys.generate()
    pay_stealth_token(net, aw.client, aw.token, aw.announcer, stranger.meta_address, 10**18)
    rcpt = aw.announcer.announce(aw.client, generate_stealth_address(stranger.meta_address), b"\x00")
    aw.note_gas("StealthAnnouncer.announce", rcpt.gas_used)

    anns = aw.announcer.announcements(from_block=start)
    assert len(anns) == 4 and all(a.caller == aw.client.address for a in anns)
    found = aw.announcer.scan(node_keys, from_block=start)
    assert [f.address for f in found] == [p_tok.stealth.address, p_eth.stealth.address]
    assert found[0].announcement.payment() == (aw.token.address, 3 * 10**18)
    assert found[1].announcement.payment() == (None, 10**16)
    assert aw.announcer.scan(StealthKeys.generate(), from_block=start) == []

    # the derived key controls the address: move the VEIL out in a transaction signed by it
    tok_acct = found[0].account()
    net.fund(tok_acct.address, 10**17)  # gas; in production a relayer or paymaster pays it
    net.transact(aw.token.contract.functions.transfer(aw.node.address, 3 * 10**18), sender=tok_acct)
    assert aw.bal(aw.node.address) == 3 * 10**18
    assert aw.bal(tok_acct.address) == 0
    # and the ETH one can spend its own ETH (gas paid from the stealth balance itself)
    eth_acct = found[1].account()
    before = net.balance(aw.other.address)
    send_eth(net, eth_acct, aw.other.address, 5 * 10**15)
    assert net.balance(aw.other.address) == before + 5 * 10**15
    assert net.balance(eth_acct.address) < 5 * 10**15


def test_registry_on_behalf_and_replay(aw) -> None:
    keys = StealthKeys.generate()
    reg = aw.stealth_registry
    sig = reg.sign_on_behalf(aw.other, keys.meta_address)
    rcpt = reg.register_on_behalf(aw.client, aw.other.address, keys.meta_address, sig)
    aw.note_gas("StealthMetaRegistry.registerKeysOnBehalf", rcpt.gas_used)
    assert reg.meta_address_of(aw.other.address) == keys.meta_address
    with reverts("bad signature"):  # replay: nonce consumed
        reg.register_on_behalf(aw.client, aw.other.address, keys.meta_address, sig)
    sig2 = reg.sign_on_behalf(aw.client, keys.meta_address)  # signed by someone else
    with reverts("bad signature"):
        reg.register_on_behalf(aw.client, aw.other.address, keys.meta_address, sig2)
    sig3 = reg.sign_on_behalf(aw.other, StealthKeys.generate().meta_address)  # different content
    with reverts("bad signature"):
        reg.register_on_behalf(aw.client, aw.other.address, keys.meta_address, sig3)
    with reverts("bad meta-address"):
        aw.net.transact(reg.contract.functions.registerKeys(1, b"\x02" * 65), sender=aw.client)
    with reverts("bad meta-address"):
        aw.net.transact(reg.contract.functions.registerKeys(1, b"\x05" + b"\x02" * 65), sender=aw.client)
    # incrementNonce voids an outstanding signature
    sig4 = reg.sign_on_behalf(aw.other, keys.meta_address)
    aw.net.transact(reg.contract.functions.incrementNonce(), sender=aw.other)
    with reverts("bad signature"):
        reg.register_on_behalf(aw.client, aw.other.address, keys.meta_address, sig4)
    with reverts("no view tag"):
        aw.announcer.announce(aw.client, generate_stealth_address(keys.meta_address), b"")


# --- interoperability: published ERC-5564 vectors ------------------------------------------------
# The ERC's text leaves the serialisation of the shared point S before h(S) implicit. Its first
# author's executable specification (github.com/nerolation/executable-stealth-address-specs, main.py
# + test.ipynb) hashes the 64-byte x || y, as we do; these are the values its notebook prints.
ERC_AUTHOR_VECTOR = {
    "ephemeral_key": 31582853143040820948875942041653389873450407831047855470517498178324574486065,
    "spending_key": 30787322447577792890566286485782027903969759412226064433999487819529647462924,
    "viewing_key": 50431308649801251425320023123245644035351225602185776979597242007527042324186,
    "meta_uri": "st:eth:0x03e017e9d9dbcb9ce5771acfce74c95bc0eafb5db37ef4b1ac62375f8e7a4c8aef"
    "021ba1833a9575bd2ad924440a20a80417437f77b0539cbc3f5bbaeeb2881efe04",
    "ephemeral_pub_x": 99931485108758068354634100015529707565438847495649276196131125998359569029703,
    "ephemeral_pub_y": 4744375390796532504618795785909610189099640957761399522523575349957196497592,
    "stealth_address": "0xc7c1bbf258340e551061e7d561798555aa871c0d",
    "view_tag": 61,
    "stealth_key": 0x81C527D561A196132FE18F2242385E4CDAC91990657021CD0CEE71A24D55242E,
}


def _b32(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_erc5564_author_reference_vector() -> None:
    """Payer and recipient sides reproduce the ERC author's reference output byte for byte."""
    v = ERC_AUTHOR_VECTOR
    keys = StealthKeys(_b32(v["spending_key"]), _b32(v["viewing_key"]))
    assert keys.meta_address.uri() == v["meta_uri"]
    assert StealthMetaAddress.from_uri(v["meta_uri"]) == keys.meta_address
    sa = generate_stealth_address(keys.meta_address, _b32(v["ephemeral_key"]))
    assert sa.address.lower() == v["stealth_address"]
    assert sa.view_tag == v["view_tag"]
    eph = PublicKey(sa.ephemeral_pubkey).format(compressed=False)
    assert (int.from_bytes(eph[1:33], "big"), int.from_bytes(eph[33:], "big")) == (
        v["ephemeral_pub_x"],
        v["ephemeral_pub_y"],
    )
    ann = Announcement(1, v["stealth_address"], CALLER, sa.ephemeral_pubkey, bytes([v["view_tag"]]))
    (found,) = scan_with_keys([ann], keys)
    assert found.stealth_key == _b32(v["stealth_key"])
    assert found.account().address.lower() == v["stealth_address"]


def test_payments_hashed_the_scopelift_sdk_way_are_found_and_spendable() -> None:
    """ScopeLift's SDK (by two of the ERC's authors) hashes the compressed S: a wallet on that SDK
    derives other stealth addresses from the same keys. Our scanner recognises both conventions
    (one extra keccak per announcement), so payments from those wallets are not lost; and a payer
    can choose that convention for a recipient who scans with that SDK."""
    keys = StealthKeys.generate()
    eph = PrivateKey().secret
    s_h = keccak(PublicKey(keys.meta_address.viewing_pubkey).multiply(eph).format(compressed=True))
    p_stealth = (int.from_bytes(keys.spending_key, "big") + int.from_bytes(s_h, "big")) % N
    address = Account.from_key(_b32(p_stealth)).address
    eph_pub = PrivateKey(eph).public_key.format()
    ann = Announcement(1, address, CALLER, eph_pub, bytes([s_h[0]]) + b"\xee" * 4)
    (found,) = scan_with_keys([ann], keys)
    assert found.stealth_key == _b32(p_stealth) and found.account().address == address
    # our payer, told to use that convention, derives exactly that address
    sa = generate_stealth_address(keys.meta_address, eph, secret_encoding="compressed")
    assert (sa.address, sa.view_tag) == (address, s_h[0])
    # the default stays the ERC author's x || y (backward compatible with every payment we made)
    assert generate_stealth_address(keys.meta_address, eph).address != address
    # a forged tag still fails: the tag must be s_h[0] of the convention whose address matched
    assert scan_with_keys([dataclasses.replace(ann, metadata=bytes([s_h[0] ^ 1]))], keys) == []
