"""Typed reads of the suite's structs, shared by nodes, clients, validators and the CLI.

Struct returns come back from web3 as tuples in declaration order; these dataclasses give them
names once, here, instead of index arithmetic in every caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from veilproof.chain.suite import Suite

ZERO32_HEX = "00" * 32
MODE_ZK, MODE_FHE = 1, 2
OPEN, SUBMITTED, SETTLED, REFUNDED, SLASHED = 1, 2, 3, 4, 5
STATUS_NAMES = {
    OPEN: "open",
    SUBMITTED: "submitted",
    SETTLED: "settled",
    REFUNDED: "refunded",
    SLASHED: "slashed",
}


def _h(b: bytes) -> str:
    return bytes(b).hex()


@dataclass(frozen=True)
class OnchainModel:
    model_id: int
    owner: str
    name: str
    price: int
    royalty_bps: int
    onnx_hash: str
    zk_settings_hash: str
    zk_vk_hash: str
    zk_srs_hash: str
    fhe_client_hash: str
    fhe_server_hash: str
    training_code_hash: str
    active: bool

    @property
    def has_zk(self) -> bool:
        return self.zk_vk_hash != ZERO32_HEX

    @property
    def has_fhe(self) -> bool:
        return self.fhe_server_hash != ZERO32_HEX


@dataclass(frozen=True)
class OnchainJob:
    job_id: int
    client: str
    node: str
    model_id: int
    input_commitment: int
    mode: int
    price: int
    deadline: int
    status: int
    output_hash: str
    proof_hash: str
    eval_keys_hash: str
    output_ct_hash: str
    submitted_at: int
    started_at: int

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, str(self.status))


@dataclass(frozen=True)
class OnchainNode:
    address: str
    endpoint: str
    pubkey: bytes
    stake: int
    unbonding: int
    unbond_release: int
    registered: bool
    slashed_total: int


def read_model(suite: Suite, model_id: int) -> OnchainModel:
    m = suite.net.call(suite.models.functions.model(model_id))
    (owner, name, price, royalty, onnx, zs, zv, zsrs, fc, fs, code, active) = m
    return OnchainModel(
        model_id, owner, name, int(price), int(royalty), _h(onnx), _h(zs), _h(zv), _h(zsrs),
        _h(fc), _h(fs), _h(code), bool(active),
    )  # fmt: skip


def read_job(suite: Suite, job_id: int) -> OnchainJob:
    j = suite.net.call(suite.market.functions.job(job_id))
    (
        client,
        node,
        model_id,
        commit,
        mode,
        price,
        deadline,
        status,
        out_h,
        proof_h,
        ek_h,
        oct_h,
        sub_at,
        st_at,
    ) = j
    return OnchainJob(
        job_id, client, node, int(model_id), int.from_bytes(bytes(commit), "big"), int(mode), int(price),
        int(deadline), int(status), _h(out_h), _h(proof_h), _h(ek_h), _h(oct_h), int(sub_at), int(st_at),
    )  # fmt: skip


def read_node(suite: Suite, address: str) -> OnchainNode:
    n = suite.net.call(suite.nodes.functions.node(address))
    (endpoint, pubkey, stake, unbonding, release, registered, slashed) = n
    return OnchainNode(
        address,
        str(endpoint),
        bytes(pubkey),
        int(stake),
        int(unbonding),
        int(release),
        bool(registered),
        int(slashed),
    )


def list_nodes(suite: Suite) -> list[OnchainNode]:
    count = suite.net.call(suite.nodes.functions.node_count())
    return [read_node(suite, suite.net.call(suite.nodes.functions.node_at(i))) for i in range(count)]
