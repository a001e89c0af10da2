"""AgentRegistry: registration documents, ownership, and wallet binding by the wallet's own signature."""

from __future__ import annotations

import dataclasses

import pytest
from agents_support import ONE, reverts

from veilproof.agents import AgentError, AgentWalletClient, Endpoint, RegistrationDoc, WalletPolicy

DOC = RegistrationDoc(
    name="health-checker",
    description="Buys private FHE risk predictions",
    endpoints=(Endpoint("http", "https://agent.test/api"),),
    capabilities=("fhe-inference", "stealth-pay"),
    trust_models=("zk", "fhe", "stake"),
)


def test_registration_document_is_canonical() -> None:
    again = RegistrationDoc.from_json(DOC.to_json())
    assert again == DOC and again.doc_hash() == DOC.doc_hash()
    assert '"type":"veilproof-agent/1"' in DOC.to_json()
    assert dataclasses.replace(DOC, description="x").doc_hash() != DOC.doc_hash()
    with pytest.raises(AgentError):
        RegistrationDoc(name="a", trust_models=("tee",))
    with pytest.raises(AgentError):
        RegistrationDoc.from_json('{"type": "other", "name": "a"}')


def test_register_update_transfer(aw) -> None:
    reg = aw.registry
    f = reg.contract.functions
    aid = reg.register(aw.client, "https://agent.test/1.json", DOC)
    assert aid == 1
    rec = reg.agent(aid)
    assert (rec.owner, rec.uri, rec.doc_hash, rec.wallet) == (
        aw.client.address,
        "https://agent.test/1.json",
        DOC.doc_hash(),
        None,
    )
    assert reg.verify_doc(aid, DOC.to_json().encode())
    assert not reg.verify_doc(aid, b'{"name":"swapped"}')
    aw.tx(f.register("ipfs://x", DOC.doc_hash()), aw.client)
    with reverts("empty uri"):
        aw.tx(f.register("", DOC.doc_hash()), aw.client)
    with reverts("empty doc hash"):
        aw.tx(f.register("u", b"\x00" * 32), aw.client)
    with reverts("unknown agent"):
        reg.agent(99)
    new_doc = dataclasses.replace(DOC, description="v2")
    with reverts("not agent owner"):
        reg.update(aw.other, aid, "https://agent.test/2.json", new_doc)
    aw.tx(f.update(aid, "https://agent.test/2.json", new_doc.doc_hash()), aw.client)
    assert reg.agent(aid).doc_hash == new_doc.doc_hash()
    with reverts("not agent owner"):
        aw.tx(f.transfer_agent(aid, aw.other.address), aw.other)
    aw.tx(f.transfer_agent(aid, aw.other.address), aw.client)
    assert reg.agent(aid).owner == aw.other.address


def test_bind_eoa_wallet_needs_its_signature(aw) -> None:
    reg = aw.registry
    f = reg.contract.functions
    wallet_key, thief = aw.net.new_accounts(2)
    aid = reg.register(aw.client, "https://agent.test/1.json", DOC)

    b = reg.binding(aid, wallet_key.address, aw.client.address)
    # wrong signer: someone else's key cannot be claimed
    with reverts("bad wallet signature"):
        reg.set_wallet(aw.client, b, b.sign(thief))
    # a signature for another owner, agent or registry does not transfer
    with reverts("bad wallet signature"):
        reg.set_wallet(aw.client, b, dataclasses.replace(b, owner=aw.other.address).sign(wallet_key))
    with reverts("bad wallet signature"):
        reg.set_wallet(aw.client, b, dataclasses.replace(b, chain_id=b.chain_id + 1).sign(wallet_key))
    # only the owner may bind, even with a valid signature
    sig = b.sign(wallet_key)
    with reverts("not agent owner"):
        reg.set_wallet(aw.other, b, sig)
    rcpt = aw.tx(f.set_wallet(aid, b.wallet, b.deadline, sig), aw.client)
    assert reg.agent(aid).wallet == wallet_key.address
    assert reg.agent_of_wallet(wallet_key.address) == aid
    ev = reg.contract.events.WalletSet().process_receipt(rcpt.raw)[0]["args"]
    assert ev["nonce"] == 0
    # replay of the same signature: nonce consumed
    with reverts("bad wallet signature"):
        reg.set_wallet(aw.client, b, sig)
    # expired signature
    late = reg.binding(aid, wallet_key.address, aw.client.address, ttl=10)
    late_sig = late.sign(wallet_key)
    aw.net.time_travel(100)
    with reverts("signature expired"):
        reg.set_wallet(aw.client, late, late_sig)
    # a wallet bound to one agent cannot be claimed by another
    other_aid = reg.register(aw.other, "https://o.test", DOC)
    with reverts("wallet in use"):
        reg.bind_wallet(aw.other, other_aid, wallet_key.address, wallet_key)
    # clear, then the other agent may bind it
    aw.tx(f.clear_wallet(aid), aw.client)
    assert reg.agent(aid).wallet is None
    reg.bind_wallet(aw.other, other_aid, wallet_key.address, wallet_key)
    assert reg.agent_of_wallet(wallet_key.address) == other_aid
    # transfer clears the binding
    aw.tx(f.transfer_agent(other_aid, aw.client.address), aw.other)
    assert reg.agent(other_aid).wallet is None and reg.agent_of_wallet(wallet_key.address) is None


def test_bind_contract_wallet_via_erc1271(aw) -> None:
    reg = aw.registry
    agent_key, stranger = aw.net.new_accounts(2)
    aid = reg.register(aw.client, "https://agent.test/1.json", DOC)
    w = AgentWalletClient.deploy(
        aw.net, aw.client, agent_key.address, aw.token.address, WalletPolicy(ONE, ONE)
    )
    with reverts("bad wallet signature"):  # a stranger cannot sign for the wallet
        reg.bind_wallet(aw.client, aid, w.address, stranger)
    b = reg.binding(aid, w.address, aw.client.address)
    rcpt = reg.set_wallet(aw.client, b, b.sign(agent_key))
    aw.note_gas("AgentRegistry.set_wallet (ERC-1271 wallet)", rcpt.gas_used)
    assert reg.agent(aid).wallet == w.address
    # rotating the wallet's agent key voids the old key's power to sign for it
    aw.net.transact(w.contract.functions.set_agent(stranger.address), sender=aw.client)
    b2 = reg.binding(aid, w.address, aw.client.address)
    with reverts("bad wallet signature"):
        reg.set_wallet(aw.client, b2, b2.sign(agent_key))


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _malformed(sig: bytes) -> dict[str, bytes]:
    """Variants of a good 65-byte (r, s, v) signature that must all be refused."""
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    return {
        "high-s twin (EIP-2)": r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v]),
        "64 bytes (EIP-2098 form is not accepted)": sig[:64],
        "v = 29": sig[:64] + bytes([29]),
        "r = 0": b"\x00" * 32 + sig[32:],
        "empty": b"",
    }


def test_signature_edge_cases_and_domain(aw) -> None:
    """Malformed wallet signatures are refused with the registry's own reason (never another revert),
    v may be 0/1 as well as 27/28, and an AgentWallet answers ERC-1271 with 0xffffffff, never a revert."""
    from eth_abi import encode
    from eth_utils import keccak

    from veilproof.chain.erc1271 import sign_as_wallet

    reg = aw.registry
    wallet_key, agent_key = aw.net.new_accounts(2)
    domain = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak(b"VeilproofAgentRegistry"),
                keccak(b"1"),
                aw.net.chain_id,
                reg.address,
            ],
        )
    )
    assert aw.call(reg.contract.functions.DOMAIN_SEPARATOR()) == domain

    aid = reg.register(aw.client, "https://agent.test/1.json", DOC)
    b = reg.binding(aid, wallet_key.address, aw.client.address)
    good = b.sign(wallet_key)
    for sig in _malformed(good).values():
        with reverts("bad wallet signature"):
            reg.set_wallet(aw.client, b, sig)
    reg.set_wallet(aw.client, b, good[:64] + bytes([good[64] - 27]))  # v as 0/1
    assert reg.agent(aid).wallet == wallet_key.address

    w = AgentWalletClient.deploy(
        aw.net, aw.client, agent_key.address, aw.token.address, WalletPolicy(ONE, ONE)
    )
    digest = keccak(b"any digest")
    signed = sign_as_wallet(agent_key, w.address, aw.net.chain_id, digest)
    is_valid = w.contract.functions.isValidSignature
    assert aw.call(is_valid(digest, signed)) == bytes.fromhex("1626ba7e")
    assert aw.call(is_valid(digest, signed[:64] + bytes([signed[64] - 27]))) == bytes.fromhex("1626ba7e")
    for label, sig in _malformed(signed).items():
        assert aw.call(is_valid(digest, sig)) == b"\xff\xff\xff\xff", label
