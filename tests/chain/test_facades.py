"""The contract facades: typed reads, event decoding, the contract's own encodings, enums, EIP-712.

The open → submit → settle paths are driven end to end elsewhere (tests/agents, tests/e2e); here each
facade is checked against the contract it wraps, on the session chain.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from veilproof.agents import (
    AgentRegistryClient,
    AgentWalletClient,
    AnnouncerClient,
    ReputationClient,
    StealthRegistryClient,
    deploy_agents,
)
from veilproof.agents.identity import WalletBinding
from veilproof.agents.stealth import SCHEME_ID, StealthKeys
from veilproof.agents.wallet import WalletPolicy
from veilproof.chain import Network, contracts_dir
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite
from veilproof.chain.eip712 import Eip712Domain, TypedData
from veilproof.chain.erc1271 import Erc1271, has_code, sign_as_wallet
from veilproof.chain.facade import ContractFacade, call_data
from veilproof.chain.job_market import JobMarket, JobMode, JobStatus, OnchainJob
from veilproof.chain.model_registry import OnchainModel
from veilproof.chain.node_registry import OnchainNode
from veilproof.chain.suite import Suite
from veilproof.errors import ConfigError, ContractReverted
from veilproof.protocol.signing import eip191_hash

PRICE = 10 * ONE_VEIL
MIN_STAKE = 100 * ONE_VEIL


def h(label: str) -> bytes:
    return keccak(label.encode())


@dataclass
class World:
    net: Network
    suite: Suite
    owner: LocalAccount
    author: LocalAccount
    node: LocalAccount
    client: LocalAccount
    model_id: int


@pytest.fixture
def world(net: Network) -> World:
    owner, author, node, client = net.new_accounts(4)
    s = Suite.attach(net, deploy_suite(net, owner, SuiteParams.dev(min_stake=MIN_STAKE)))
    rcpt = s.models.register_model("m", PRICE, 1_500, h("onnx"), [], [], h("code"), sender=author)
    mid = s.models.registered_model_id(rcpt)
    s.models.set_fhe_commitment(mid, h("client"), h("server"), sender=author)
    s.token.mint(node.address, MIN_STAKE, sender=owner)
    s.token.mint(client.address, 100 * ONE_VEIL, sender=owner)
    s.nodes.register("http://n.test", b"\x02" + h("pk"), [mid], sender=node)
    s.token.approve(s.nodes.address, MIN_STAKE, sender=node)
    s.nodes.stake(MIN_STAKE, sender=node)
    return World(net, s, owner, author, node, client, mid)


def _open_fhe(w: World, tag: str = "ct") -> int:
    m = w.suite.market
    w.suite.token.approve(m.address, PRICE, sender=w.client)
    rcpt = m.open_job(
        w.model_id, w.node.address, h(tag), JobMode.FHE, w.net.now() + 3000,
        max_price=PRICE, eval_keys_hash=h("keys"), sender=w.client,
    )  # fmt: skip
    return m.opened_job_id(rcpt)


# --- typed reads ------------------------------------------------------------------------------------
def test_read_job_is_typed_through_an_fhe_job(world: World) -> None:
    w, m = world, world.suite.market
    jid = _open_fhe(w)
    assert jid == m.job_count()
    job = m.read_job(jid)
    assert isinstance(job, OnchainJob)
    assert (job.job_id, job.client, job.node, job.model_id, job.price) == (
        jid, w.client.address, w.node.address, w.model_id, PRICE,
    )  # fmt: skip
    assert job.input_commitment == int.from_bytes(h("ct"), "big")
    assert type(job.mode) is JobMode and job.mode == JobMode.FHE
    assert type(job.status) is JobStatus and job.status == JobStatus.OPEN and job.status_name == "open"
    assert job.output_ct_hash == "00" * 32 and job.submitted_at == 0 and job.started_at == 0
    assert job.eval_keys_hash == h("keys").hex() and job.verifier == "0x" + "00" * 20  # committed at open
    # the raw struct is what the record names, field by field
    raw = w.net.call(m.contract.functions.job(jid))
    assert raw[4] == job.mode and raw[7] == job.status and raw[0] == job.client

    m.start_job(jid, sender=w.node)
    assert m.read_job(jid).started_at > 0
    m.submit_fhe(jid, h("keys"), h("ct"), h("out"), h("server"), sender=w.node)
    job = m.read_job(jid)
    assert job.status == JobStatus.SUBMITTED
    assert (job.eval_keys_hash, job.output_ct_hash) == (h("keys").hex(), h("out").hex())
    m.accept(jid, sender=w.client)
    assert m.read_job(jid).status_name == "settled"
    owed = m.pending(w.node.address)
    assert owed == PRICE - PRICE * 1_500 // 10_000
    before = w.suite.token.balance_of(w.node.address)
    m.withdraw(sender=w.node)
    assert w.suite.token.balance_of(w.node.address) - before == owed and m.pending(w.node.address) == 0


def test_a_rejected_job_is_refunded_and_reads_back(world: World) -> None:
    w, m = world, world.suite.market
    jid = _open_fhe(w)
    m.reject(jid, "bad ciphertext", sender=w.node)
    assert m.read_job(jid).status == JobStatus.REFUNDED
    assert m.pending(w.client.address) == PRICE
    with pytest.raises(ContractReverted) as e:
        m.read_job(jid + 1)
    assert e.value.reason == "unknown job"


def test_registry_reads_are_typed(world: World) -> None:
    w, s = world, world.suite
    model = s.models.read_model(w.model_id)
    assert isinstance(model, OnchainModel)
    assert (model.owner, model.name, model.price, model.royalty_bps) == (w.author.address, "m", PRICE, 1_500)
    assert model.onnx_hash == h("onnx").hex() and model.has_fhe and not model.has_zk and model.active
    assert s.models.read_models() == [model] and s.models.exists(w.model_id)
    ds = s.models.registered_dataset_id(s.models.register_dataset(h("root"), "ipfs://d", sender=w.author))
    d = s.models.read_dataset(ds)
    assert d.registered and (d.owner, d.merkle_root, d.uri) == (w.author.address, h("root").hex(), "ipfs://d")
    with pytest.raises(ContractReverted, match="unknown dataset"):
        s.models.read_dataset(ds + 1)

    node = s.nodes.read_node(w.node.address)
    assert isinstance(node, OnchainNode)
    assert (node.endpoint, node.pubkey, node.stake, node.registered) == (
        "http://n.test", b"\x02" + h("pk"), MIN_STAKE, True,
    )  # fmt: skip
    assert s.nodes.addresses() == [w.node.address] and s.nodes.list_nodes() == [node]
    assert s.nodes.is_active(w.node.address) and s.nodes.serves(w.node.address, w.model_id)
    assert s.nodes.models_of(w.node.address) == [w.model_id] and s.nodes.min_stake() == MIN_STAKE
    assert not s.nodes.read_node(w.client.address).registered


def test_events_of_other_contracts_are_not_read(world: World, net: Network) -> None:
    """A second market's JobOpened in the same kind of receipt is not this market's job."""
    w = world
    other = Suite.attach(net, deploy_suite(net, w.owner, SuiteParams.dev())).market
    w.suite.token.approve(w.suite.market.address, PRICE, sender=w.client)
    rcpt = w.suite.market.open_job(
        w.model_id, w.node.address, h("x"), JobMode.FHE, net.now() + 3000,
        max_price=PRICE, eval_keys_hash=h("keys"), sender=w.client,
    )  # fmt: skip
    assert other.opened_job_ids(rcpt) == []
    assert w.suite.market.opened_job_ids(rcpt) == [w.suite.market.job_count()]


def test_events_between_decodes_this_contracts_logs_in_chain_order(world: World, net: Network) -> None:
    """What the explorer's indexer reads: every event of one contract in a block range, typed."""
    w = world
    start = net.head() + 1
    job_id = _open_fhe(w, "indexed")
    w.suite.market.reject(job_id, "busy", sender=w.node)
    evs = w.suite.market.events_between(start, net.head())
    assert [e.name for e in evs] == ["JobOpened", "JobRejected"]
    opened = evs[0]
    assert opened.contract == "JobMarket" and opened.address == w.suite.market.address
    assert opened.args["job_id"] == job_id and opened.args["node"] == w.node.address
    assert opened.args["input_commitment"] == h("indexed") and opened.args["price"] == PRICE
    assert opened.tx_hash.startswith("0x") and net.gas_used(opened.tx_hash) > 0
    assert [(e.block, e.log_index) for e in evs] == sorted((e.block, e.log_index) for e in evs)
    # the token's Transfer in the same transactions belongs to the token, not the market
    assert all(e.name != "Transfer" for e in evs)
    assert any(e.name == "Transfer" for e in w.suite.token.events_between(start, net.head()))
    assert w.suite.market.events_between(net.head() + 1, net.head()) == []


def test_suite_hands_out_facades(world: World) -> None:
    s = world.suite
    for f in (s.token, s.models, s.nodes, s.market):
        assert isinstance(f, ContractFacade) and f.net is s.net
        assert f.contract.address == f.address
    assert s.quorum is None and s.zk_adapter is None
    with pytest.raises(ConfigError, match="deploy the incentives"):
        _ = s.rewards


def test_unsent_calls_carry_target_and_calldata(world: World) -> None:
    m = world.suite.market
    call = m.accept_call(7)
    assert call.address == m.address and call.fn_name == "accept"
    assert call_data(call) == keccak(text="accept(uint256)")[:4] + (7).to_bytes(32, "big")


# --- the contract's encodings ---------------------------------------------------------------------------
def test_output_hash_is_the_outputs_only() -> None:
    outputs = [5, 2**250, 0]
    expected = keccak(encode(["uint256[]"], [outputs])).hex()
    assert JobMarket.output_hash([123, *outputs]) == expected == JobMarket.output_hash([456, *outputs])
    assert JobMarket.proof_hash(b"proof") == keccak(b"proof").hex()


@pytest.mark.slow
def test_output_and_proof_hash_match_what_the_contract_stores(mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """The real EZKL verifier settles a real proof; the contract's stored hashes equal the facade's."""
    from veilproof.chain import connect
    from veilproof.chain.deploy import deploy_zk_verifier
    from veilproof.client.publish import publish_model
    from veilproof.zk import evm
    from veilproof.zk.instances import input_commitment
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    net = connect()
    owner, node, client = net.new_accounts(3)
    d = deploy_suite(net, owner, SuiteParams.dev())
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    s = Suite.attach(net, d)
    assert s.zk_adapter is not None
    pub = publish_model(s, owner, name="mlp", price=PRICE, onnx_hash="11" * 32, zk=mlp.package)
    assert s.zk_adapter.is_registered(pub.model_id) and s.models.read_model(pub.model_id).has_zk
    s.token.mint(client.address, PRICE, sender=owner)
    s.token.mint(node.address, MIN_STAKE, sender=owner)
    s.nodes.register("http://n.test", b"\x02" + h("pk"), [pub.model_id], sender=node)
    s.token.approve(s.nodes.address, MIN_STAKE, sender=node)
    s.nodes.stake(MIN_STAKE, sender=node)
    s.token.approve(s.market.address, PRICE, sender=client)
    commit = input_commitment(mlp.package.settings, mlp.example.x_test[0]).to_bytes(32, "big")
    jid = s.market.opened_job_id(
        s.market.open_job(
            pub.model_id, node.address, commit, JobMode.ZK, net.now() + 3600, max_price=PRICE, sender=client
        )
    )
    assert s.market.read_job(jid).verifier == s.zk_adapter.address
    s.market.start_job(jid, sender=node)
    proof, instances = evm.calldata(mlp_proof.proof)
    s.market.submit_zk(jid, instances, proof, sender=node, gas=3_000_000)
    job = s.market.read_job(jid)
    assert job.status == JobStatus.SETTLED and job.mode == JobMode.ZK
    assert job.output_hash == JobMarket.output_hash(instances)
    assert job.proof_hash == JobMarket.proof_hash(proof)
    net.close()


# --- enums ----------------------------------------------------------------------------------------------
def _contract_constants(names: list[str]) -> dict[str, int]:
    src = (contracts_dir() / "lib" / "jobs.vy").read_text()  # the shared Job definition
    found = dict(re.findall(r"^(\w+): constant\(uint8\) = (\d+)$", src, re.M))
    return {n: int(found[n]) for n in names}


def test_enums_are_the_contract_constants_and_round_trip() -> None:
    assert {s.name: s.value for s in JobStatus} == _contract_constants(
        ["OPEN", "SUBMITTED", "SETTLED", "REFUNDED", "SLASHED"]
    )
    assert {f"MODE_{m.name}": m.value for m in JobMode} == _contract_constants(["MODE_ZK", "MODE_FHE"])
    for s in JobStatus:
        assert JobStatus(int(s)) is s and s == int(s)
        assert f"{s}" == str(int(s))  # messages that format a status read as before (a number)
    from veilproof.chain import views

    assert tuple(JobStatus) == (views.OPEN, views.SUBMITTED, views.SETTLED, views.REFUNDED, views.SLASHED)
    assert (views.MODE_ZK, views.MODE_FHE) == (JobMode.ZK, JobMode.FHE) == (1, 2)
    assert views.STATUS_NAMES[JobStatus.SLASHED] == "slashed"


# --- agents wrappers, ERC-1271, EIP-712 ----------------------------------------------------------------------
def test_agents_wrappers_are_facades() -> None:
    for cls in (
        AgentRegistryClient,
        AgentWalletClient,
        AnnouncerClient,
        ReputationClient,
        StealthRegistryClient,
    ):
        assert issubclass(cls, ContractFacade) and cls.CONTRACT


def test_erc1271_asks_the_contract(world: World) -> None:
    """An AgentWallet vouches for its agent key's personal_sign signatures, and only those."""
    w = world
    (key,) = w.net.new_accounts(1)
    wallet = AgentWalletClient.deploy(w.net, w.owner, key.address, w.suite.token.address, WalletPolicy(1, 1))
    assert has_code(w.net, wallet.address) and not has_code(w.net, key.address)
    e = Erc1271(w.net, wallet.address)
    digest = h("request")
    signed = sign_as_wallet(key, wallet.address, w.net.chain_id, eip191_hash(digest))
    assert e.is_valid_signature(eip191_hash(digest), signed)
    # a plain personal_sign of the request is no longer the wallet's (ERC-7739: bound to the wallet)
    assert not e.is_valid_signature(
        eip191_hash(digest), bytes(key.sign_message(encode_defunct(digest)).signature)
    )
    other = sign_as_wallet(Account.create(), wallet.address, w.net.chain_id, eip191_hash(digest))
    assert not e.is_valid_signature(eip191_hash(digest), other)
    assert not e.is_valid_signature(eip191_hash(digest), signed[:64])  # malformed: the wallet says no


def _legacy_binding(w: World, wallet: str, registry: str) -> dict[str, Any]:
    """The typed data agents/identity.py built by hand before the EIP-712 helper, kept verbatim."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "SetAgentWallet": [
                {"name": "agentId", "type": "uint256"},
                {"name": "wallet", "type": "address"},
                {"name": "owner", "type": "address"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "SetAgentWallet",
        "domain": {
            "name": "VeilproofAgentRegistry",
            "version": "1",
            "chainId": w.net.chain_id,
            "verifyingContract": registry,
        },
        "message": {"agentId": 1, "wallet": wallet, "owner": w.owner.address, "nonce": 0, "deadline": 99},
    }


def test_eip712_matches_the_contracts_domains_and_the_old_signatures(world: World) -> None:
    w = world
    addrs = deploy_agents(w.net, w.owner, w.suite.deployment)
    registry = AgentRegistryClient(w.net, addrs["agent_registry"])
    stealth = StealthRegistryClient(w.net, addrs["stealth_registry"])
    signer = Account.create()

    b = WalletBinding(w.net.chain_id, registry.address, 1, signer.address, w.owner.address, 0, 99)
    typed = b.typed()
    assert typed.domain_separator() == bytes(w.net.call(registry.contract.functions.DOMAIN_SEPARATOR()))
    legacy = _legacy_binding(w, signer.address, registry.address)
    assert b.typed_data() == legacy
    assert b.sign(signer) == bytes(signer.sign_message(encode_typed_data(full_message=legacy)).signature)
    assert Account._recover_hash(typed.digest(), signature=b.sign(signer)) == signer.address

    meta = StealthKeys.generate().meta_address
    entry = stealth.entry(meta, 0)
    assert entry.domain_separator() == bytes(w.net.call(stealth.contract.functions.DOMAIN_SEPARATOR()))
    legacy_entry = {
        "types": {
            "EIP712Domain": legacy["types"]["EIP712Domain"],
            "Erc6538RegistryEntry": [
                {"name": "schemeId", "type": "uint256"},
                {"name": "stealthMetaAddress", "type": "bytes"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "Erc6538RegistryEntry",
        "domain": {"name": "ERC6538Registry", "version": "1.0", "chainId": w.net.chain_id,
                   "verifyingContract": stealth.address},
        "message": {"schemeId": SCHEME_ID, "stealthMetaAddress": meta.to_bytes(), "nonce": 0},
    }  # fmt: skip
    assert entry.to_dict() == legacy_entry
    assert stealth.sign_on_behalf(signer, meta) == bytes(
        signer.sign_message(encode_typed_data(full_message=legacy_entry)).signature
    )
    # the registry accepts the helper's signature (a relayer submits it)
    stealth.register_on_behalf(w.client, signer.address, meta, stealth.sign_on_behalf(signer, meta))
    assert stealth.meta_address_of(signer.address) == meta


def test_typed_data_domain_checksums_the_verifying_contract() -> None:
    addr = "0x" + "ab" * 20
    td = TypedData(Eip712Domain("n", "1", 1, addr), "T", (("x", "uint256"),), {"x": 1})
    assert td.to_dict()["domain"]["verifyingContract"] == to_checksum_address(addr)
    signer = Account.create()
    assert Account._recover_hash(td.digest(), signature=td.sign(signer)) == signer.address


def test_facade_without_a_contract_name_refuses(world: World) -> None:
    class Nameless(ContractFacade):
        pass

    with pytest.raises(TypeError, match="names no contract"):
        Nameless(world.net, world.suite.market.address)
