"""Fixtures for the core contracts: one chain per backend per session, a fresh deployment per test.

Why a shared chain: starting py-evm and deploying costs more than the tests themselves; every test
gets new accounts and new contracts, so tests stay independent. Time only moves forward, and tests
only use deadlines relative to ``net.now()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract
from web3.logs import DISCARD

from veilproof.chain import Network, compile_contract
from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.errors import ContractReverted

FIXTURES = Path(__file__).parent / "fixtures"
ONE = ONE_VEIL
MODE_ZK, MODE_FHE = 1, 2
OPEN, SUBMITTED, SETTLED, REFUNDED, SLASHED = 1, 2, 3, 4, 5
MIN_STAKE = 100 * ONE
SLASH = 50 * ONE
PRICE = 10 * ONE
ROYALTY_BPS = 1500
UNBOND_DELAY = 7 * 86400
WINDOW = 3600
CONFIG = SuiteParams.dev(
    min_stake=MIN_STAKE,
    unbond_delay=UNBOND_DELAY,
    challenger_bps=5000,
    slash_amount=SLASH,
    max_deadline=86400,
    challenge_window=WINDOW,
)


ZERO32 = b"\x00" * 32


def h(label: str | bytes) -> bytes:
    """A deterministic nonzero bytes32 for tests."""
    return keccak(label.encode() if isinstance(label, str) else label)


def field_elem(label: str) -> bytes:
    """A bytes32 below the BN254 scalar field, like a Poseidon hash (EZKL hashed input)."""
    return b"\x00" + h(label)[1:]


@contextmanager
def reverts(reason: str | None = None) -> Iterator[None]:
    """Expect a ContractReverted, with exactly ``reason`` when given."""
    with pytest.raises(ContractReverted) as e:
        yield
    if reason is not None:
        assert e.value.reason == reason, f"expected {reason!r}, got {e.value.reason!r}"


def claim_digest(chain_id: int, market: str, job_id: int, instances: list[int], proof: bytes) -> bytes:
    """What a node signs (EIP-191) to claim a ZK result off-chain; mirrors JobMarket.challenge_zk."""
    inst_hash = keccak(encode(["uint256[]"], [instances]))
    return keccak(
        encode(
            ["uint256", "address", "uint256", "bytes32", "bytes32"],
            [chain_id, market, job_id, inst_hash, keccak(proof)],
        )
    )


def sign_claim(
    acct: LocalAccount, chain_id: int, market: str, job_id: int, instances: list[int], proof: bytes
) -> bytes:
    msg = encode_defunct(primitive=claim_digest(chain_id, market, job_id, instances, proof))
    return bytes(acct.sign_message(msg).signature)


@dataclass
class World:
    """A wired deployment plus named actors, with one-line helpers for the common steps."""

    net: Network
    token: Contract
    models: Contract
    nodes: Contract
    market: Contract
    owner: LocalAccount  # deployer and treasury
    client: LocalAccount
    author: LocalAccount  # model owner
    node: LocalAccount
    other: LocalAccount
    arbiter: LocalAccount
    model_id: int = 0
    gas: dict[str, list[int]] = field(default_factory=dict)

    def tx(self, fn: Any, sender: LocalAccount, **kw: Any) -> Any:
        rcpt = self.net.transact(fn, sender=sender, **kw)
        self.gas.setdefault(fn.fn_name, []).append(rcpt.gas_used)
        return rcpt

    def events(self, contract: Contract, name: str, rcpt: Any) -> list[dict[str, Any]]:
        """Args of the ``name`` events ``contract`` emitted in a receipt (other contracts' logs skipped)."""
        logs = getattr(contract.events, name)().process_receipt(rcpt.raw, errors=DISCARD)
        return [dict(log["args"]) for log in logs]

    def call(self, fn: Any) -> Any:
        return self.net.call(fn)

    def bal(self, who: LocalAccount | Contract | str) -> int:
        addr = who if isinstance(who, str) else who.address
        return int(self.call(self.token.functions.balanceOf(addr)))

    def mint(self, to: LocalAccount, amount: int) -> None:
        self.tx(self.token.functions.mint(to.address, amount), self.owner)

    def approve(self, acct: LocalAccount, spender: Contract, amount: int = 2**256 - 1) -> None:
        self.tx(self.token.functions.approve(spender.address, amount), acct)

    def register_model(
        self,
        author: LocalAccount | None = None,
        price: int = PRICE,
        zk: bool = True,
        fhe: bool = True,
        name: str = "m",
    ) -> int:
        author = author or self.author
        fn = self.models.functions.register_model(
            name, price, ROYALTY_BPS, h("onnx" + name), [], [], h("code")
        )
        self.tx(fn, author)
        mid = int(self.call(self.models.functions.model_count()))
        if zk:
            self.tx(self.models.functions.set_zk_commitment(mid, h("settings"), h("vk"), h("srs")), author)
        if fhe:
            self.tx(self.models.functions.set_fhe_commitment(mid, h("client"), h(f"server{mid}")), author)
        return mid

    def add_node(self, acct: LocalAccount, models: list[int], stake: int = MIN_STAKE) -> None:
        pubkey = b"\x02" + h(acct.address)
        self.tx(self.nodes.functions.register(f"http://{acct.address[:8]}.test", pubkey, models), acct)
        if stake:
            self.mint(acct, stake)
            self.approve(acct, self.nodes)
            self.tx(self.nodes.functions.stake(stake), acct)

    def open_job(
        self,
        mode: int = MODE_FHE,
        commitment: bytes | None = None,
        ttl: int = 1000,
        client: LocalAccount | None = None,
        node: LocalAccount | None = None,
        model_id: int | None = None,
        keys: bytes | None = None,
        max_price: int = 2**256 - 1,
    ) -> int:
        """Open a job; an FHE job commits ``keys`` (default ``h("keys")``) as its evaluation-key hash."""
        client = client or self.client
        node = node or self.node
        commitment = commitment or field_elem("input")
        if keys is None:
            keys = h("keys") if mode == MODE_FHE else ZERO32
        fn = self.market.functions.open_job(
            model_id or self.model_id, node.address, commitment, mode, self.net.now() + ttl, keys, max_price
        )
        self.tx(fn, client)
        return int(self.call(self.market.functions.job_count()))

    def start(self, job_id: int, node: LocalAccount | None = None) -> None:
        """The node takes the job on chain (``start_job``), which submitting requires."""
        self.tx(self.market.functions.start_job(job_id), node or self.node)

    def submit_fhe(
        self, job_id: int, node: LocalAccount | None = None, out: bytes | None = None, start: bool = True
    ) -> None:
        """Post an FHE result under the job's committed keys; takes the job first unless ``start=False``."""
        job = self.job(job_id)
        if start and job["started_at"] == 0:
            self.start(job_id, node)
        server = self.call(self.models.functions.model(job["model_id"]))[9]
        fn = self.market.functions.submit_fhe_result(
            job_id, job["eval_keys_hash"], job["input_commitment"], out or h("out"), server
        )
        self.tx(fn, node or self.node)

    def submit_zk(
        self, job_id: int, instances: list[int], proof: bytes, node: LocalAccount | None = None
    ) -> None:
        """Take the job if not taken yet, then post a ZK result."""
        if self.job(job_id)["started_at"] == 0:
            self.start(job_id, node)
        self.tx(self.market.functions.submit_zk_result(job_id, instances, proof), node or self.node)

    def job(self, job_id: int) -> dict[str, Any]:
        names = [
            "client",
            "node",
            "model_id",
            "input_commitment",
            "mode",
            "price",
            "deadline",
            "status",
            "output_hash",
            "proof_hash",
            "eval_keys_hash",
            "output_ct_hash",
            "submitted_at",
            "started_at",
            "verifier",
        ]
        return dict(zip(names, self.call(self.market.functions.job(job_id)), strict=True))

    def node_info(self, acct: LocalAccount | str) -> dict[str, Any]:
        names = ["endpoint", "pubkey", "stake", "unbonding", "unbond_release", "registered", "slashed_total"]
        addr = acct if isinstance(acct, str) else acct.address
        return dict(zip(names, self.call(self.nodes.functions.node(addr)), strict=True))

    def pending(self, acct: LocalAccount | str) -> int:
        addr = acct if isinstance(acct, str) else acct.address
        return int(self.call(self.market.functions.pending(addr)))

    def deploy_fixture(self, name: str) -> Contract:
        c = compile_contract(FIXTURES / f"{name}.vy")
        return self.net.deploy_bytecode(c.abi, c.bytecode, sender=self.owner, label=name)

    def use_verifier(self, name: str) -> Contract:
        v = self.deploy_fixture(name)
        self.tx(self.market.functions.set_zk_verifier(v.address), self.owner)
        return v

    def sign_claim(
        self, job_id: int, instances: list[int], proof: bytes, signer: LocalAccount | None = None
    ) -> bytes:
        return sign_claim(
            signer or self.node, self.net.chain_id, self.market.address, job_id, instances, proof
        )
