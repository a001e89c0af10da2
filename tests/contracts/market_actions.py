"""The moves of every party in the market, one function each, for the stateful test.

Why a layer of its own: the contracts' signatures change (``open_job`` gains a price cap and the
client's evaluation-key hash, submits need ``start_job`` first, FheQuorum snapshots stake), and the
state machine in ``test_stateful_market.py`` should not. Each move is a one-line call through the
chain facades (``src/veilproof/chain``); when a contract changes, the matching function here is the
one line to edit. A move that the contract refuses raises :class:`ContractReverted`, and the state
machine decides whether that party was allowed to be refused.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from veilproof.chain import Network, compile_contract
from veilproof.chain.facade import ContractFacade, call_data
from veilproof.chain.fhe_quorum import FheQuorum
from veilproof.chain.job_market import Delivery, JobMarket, JobMode, OnchainJob
from veilproof.chain.node_registry import OnchainNode
from veilproof.chain.rewards import OnchainValidator, Rewards
from veilproof.chain.suite import Suite
from veilproof.chain.zk_verifier_adapter import ZkVerifierAdapter
from veilproof.protocol import ClaimSigner

MAX_UINT = 2**256 - 1
FIXTURES = Path(__file__).parent / "fixtures"
_OPEN_ARGS = set(inspect.signature(JobMarket.open_job).parameters)


@dataclass
class Moves:
    """Every party's verbs on one deployment (core suite, ZK adapter, Rewards and FheQuorum)."""

    suite: Suite
    rewards: Rewards
    quorum: FheQuorum

    @property
    def net(self) -> Network:
        return self.suite.net

    # --- clients -------------------------------------------------------------------------------
    def approve_market(self, client: LocalAccount) -> None:
        self.suite.token.approve(self.suite.market.address, MAX_UINT, sender=client)

    def open_job(
        self,
        client: LocalAccount,
        model_id: int,
        node: str,
        commitment: bytes,
        mode: JobMode,
        deadline: int,
        max_price: int,
        eval_keys_hash: bytes,
    ) -> int:
        """Open a job (escrows the price); ``eval_keys_hash``: FHE, the client's evaluation keys."""
        market = self.suite.market
        rcpt = market.open_job(
            model_id=model_id, node=node, input_commitment=commitment, mode=mode, deadline=deadline, sender=client,
            max_price=max_price, eval_keys_hash=eval_keys_hash,
        )  # fmt: skip
        return market.opened_job_id(rcpt)

    @staticmethod
    def keys_bound_at_open() -> bool:
        """Whether the client commits its evaluation-key hash on chain when it opens a job (then a
        node's FHE submit must match it)."""
        return "eval_keys_hash" in _OPEN_ARGS

    def refund(self, client: LocalAccount, job_id: int) -> None:
        self.suite.market.refund(job_id, sender=client)

    def challenge_zk(
        self, client: LocalAccount, job_id: int, instances: Sequence[int], proof: bytes, node_sig: str
    ) -> None:
        sig = bytes.fromhex(node_sig.removeprefix("0x"))
        self.suite.market.challenge_zk(job_id, instances, proof, sig, sender=client)

    def accept(self, client: LocalAccount, job_id: int) -> None:
        self.suite.market.accept(job_id, sender=client)

    def claim_not_delivered(self, client: LocalAccount, job_id: int) -> None:
        """Demand a submitted FHE job's output on chain (the market takes ``delivery_bond``)."""
        self.suite.market.claim_not_delivered(job_id, sender=client)

    def withdraw(self, who: LocalAccount) -> None:
        self.suite.market.withdraw(sender=who)

    # --- nodes ---------------------------------------------------------------------------------
    def start_job(self, node: LocalAccount, job_id: int) -> None:
        self.suite.market.start_job(job_id, sender=node)

    def submit_zk(self, node: LocalAccount, job_id: int, instances: Sequence[int], proof: bytes) -> None:
        self.suite.market.submit_zk(job_id, instances, proof, sender=node, gas=3_000_000)

    def sign_claim(self, node: LocalAccount, job_id: int, instances: Sequence[int], proof: bytes) -> str:
        """What the node hands the client with its ZK result (off chain)."""
        return ClaimSigner(node, self.net.chain_id, self.suite.market.address).sign(
            job_id, list(instances), proof
        )

    def submit_fhe(
        self,
        node: LocalAccount,
        job_id: int,
        eval_keys_hash: bytes,
        input_ct_hash: bytes,
        output_ct_hash: bytes,
        circuit_hash: bytes,
    ) -> None:
        self.suite.market.submit_fhe(
            job_id, eval_keys_hash, input_ct_hash, output_ct_hash, circuit_hash, sender=node
        )

    def check_submit_zk(
        self, node: LocalAccount, job_id: int, instances: Sequence[int], proof: bytes
    ) -> None:
        """The node's ``eth_call`` of its submit before it signs a claim (raises ContractReverted)."""
        self.suite.market.check_submit_zk(job_id, instances, proof, node=node.address)

    def deliver_output(self, node: LocalAccount, job_id: int, output_ct: bytes) -> None:
        """Answer a delivery demand: the output ciphertext in calldata (its sha256 must be posted)."""
        self.suite.market.deliver_output(job_id, output_ct, sender=node)

    def reject(self, node: LocalAccount, job_id: int) -> None:
        self.suite.market.reject(job_id, "cannot serve this input", sender=node)

    def stake_node(self, node: LocalAccount, amount: int) -> None:
        self.suite.token.approve(self.suite.nodes.address, amount, sender=node)
        self.suite.nodes.stake(amount, sender=node)

    def unbond_node(self, node: LocalAccount, amount: int) -> None:
        self.suite.nodes.request_unbond(amount, sender=node)

    def withdraw_unbonded_node(self, node: LocalAccount) -> None:
        self.suite.nodes.withdraw_unbonded(sender=node)

    # --- anyone --------------------------------------------------------------------------------
    def finalize(self, anyone: LocalAccount, job_id: int) -> None:
        self.suite.market.finalize(job_id, sender=anyone)

    def dispute_directly(self, who: LocalAccount, job_id: int) -> None:
        """Only the arbiter (the quorum) may; anyone else is refused."""
        self.suite.market.dispute_fhe(job_id, sender=who)

    def advance(self, seconds: int) -> None:
        self.net.time_travel(seconds)

    # --- owners ------------------------------------------------------------------------------
    def set_zk_verifier(self, owner: LocalAccount, verifier: str) -> None:
        """The market owner points new ZK jobs at another verifier (open jobs keep theirs)."""
        self.suite.market.set_zk_verifier(verifier, sender=owner)

    def register_vka(
        self, model_owner: LocalAccount, adapter: str, model_id: int, vka_words: Sequence[bytes]
    ) -> None:
        """The model owner registers its VKA with a verifier adapter (once per adapter and model)."""
        ZkVerifierAdapter(self.net, adapter).register_model(model_id, vka_words, sender=model_owner)

    # --- validators ----------------------------------------------------------------------------
    def register_validator(self, v: LocalAccount, amount: int) -> None:
        self.suite.token.approve(self.rewards.address, amount, sender=v)
        self.rewards.register_validator(amount, sender=v)

    def attest(self, v: LocalAccount, job_id: int, recomputed_hash: bytes) -> None:
        self.quorum.attest_mismatch(job_id, recomputed_hash, sender=v)

    def unbond_validator(self, v: LocalAccount, amount: int) -> None:
        self.rewards.request_unbond(amount, sender=v)

    def withdraw_unbonded_validator(self, v: LocalAccount) -> None:
        self.rewards.withdraw_unbonded(sender=v)

    def claim_quorum(self, v: LocalAccount) -> None:
        self.quorum.claim(sender=v)

    # --- reads ---------------------------------------------------------------------------------
    def job(self, job_id: int) -> OnchainJob:
        return self.suite.market.read_job(job_id)

    def node(self, address: str) -> OnchainNode:
        return self.suite.nodes.read_node(address)

    def validator(self, address: str) -> OnchainValidator:
        return self.rewards.read_validator(address)

    def balance(self, address: str) -> int:
        return self.suite.token.balance_of(address)

    def supply(self) -> int:
        return self.suite.token.total_supply()

    def delivery(self, job_id: int) -> Delivery:
        return self.suite.market.delivery(job_id)

    def zk_verifier(self) -> str:
        return self.suite.market.zk_verifier()

    def market_pending(self, address: str) -> int:
        return self.suite.market.pending(address)

    def quorum_pending(self, address: str) -> int:
        return self.quorum.pending(address)

    def escrowed(self) -> int:
        return self.suite.market.escrowed()


# --- many reads in one call ----------------------------------------------------------------------
Read = tuple[ContractFacade, str, tuple[Any, ...], str | None]
"""(contract, view function, arguments, field of its struct answer or None for a one-word answer)."""


class Reader:
    """Reads many one-word views in one ``eth_call`` through ``fixtures/ReadProbe.vy``.

    Why: the state machine checks every invariant after every step; one RPC per balance, pending
    amount and job status made each step cost seconds. The word a field sits at is taken from the
    contract's ABI, so a struct that gains fields is still read right.
    """

    def __init__(self, net: Network, deployer: LocalAccount) -> None:
        c = compile_contract(FIXTURES / "ReadProbe.vy")
        self.probe = net.deploy_bytecode(c.abi, c.bytecode, sender=deployer, label="ReadProbe")
        self.net = net

    @staticmethod
    def _word(fc: ContractFacade, fn: str, field: str | None) -> int:
        (out,) = next(e for e in fc.contract.abi if e.get("name") == fn and e["type"] == "function")[
            "outputs"
        ]
        if field is None:
            return 0
        names = [c["name"] for c in out["components"]]
        dynamic = any(c["type"] in ("string", "bytes") or c["type"].endswith("[]") for c in out["components"])
        return names.index(field) + (1 if dynamic else 0)  # a dynamic tuple is preceded by its offset

    def read(self, reads: Sequence[Read]) -> list[int]:
        targets, calls, words = [], [], []
        for fc, fn, args, field in reads:
            targets.append(fc.address)
            calls.append(call_data(getattr(fc.contract.functions, fn)(*args)))
            words.append(self._word(fc, fn, field))
        return [int(v) for v in self.net.call(self.probe.functions.read_words(targets, calls, words))]


# --- one deployment, many runs -------------------------------------------------------------------
def snapshot(net: Network) -> Any:
    """Remember the chain's state (a dev chain's snapshot): each run of the state machine starts from
    one deployment instead of redeploying the suite, the verifier and the incentives."""
    return net.snapshot()


def revert(net: Network, snap: Any) -> None:
    """Back to ``snap`` through the Network, which also forgets its nonce counts for the abandoned history."""
    net.revert(snap)
