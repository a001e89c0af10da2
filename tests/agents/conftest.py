"""Fixtures for the agents tests: one chain per session, a fresh suite + agents contracts per test.

``AgentsWorld`` drives the JobMarket to Settled FHE jobs (open → node submits → client accepts),
which is what entitles feedback, and records gas per call for docs/agents.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agents_support import MIN_STAKE, MODE_FHE, ONE, PRICE, h
from eth_account.signers.local import LocalAccount

from veilproof.agents import (
    AgentRegistryClient,
    AnnouncerClient,
    ReputationClient,
    StealthRegistryClient,
    deploy_agents,
)
from veilproof.chain import Network
from veilproof.chain.deploy import SuiteParams, deploy_suite
from veilproof.chain.job_market import JobMarket
from veilproof.chain.model_registry import ModelRegistry
from veilproof.chain.node_registry import NodeRegistry
from veilproof.chain.token import Token

PARAMS = SuiteParams.dev(min_stake=MIN_STAKE, slash_amount=10 * ONE, challenge_window=600)
GAS_FILE = Path(os.environ.get("VEILPROOF_AGENTS_GAS", Path(__file__).parent / ".gas.json"))


_GAS: dict[str, list[int]] = {}


@dataclass
class AgentsWorld:
    net: Network
    token: Token
    models: ModelRegistry
    nodes: NodeRegistry
    market: JobMarket
    owner: LocalAccount
    client: LocalAccount
    node: LocalAccount
    author: LocalAccount
    other: LocalAccount
    registry: AgentRegistryClient
    reputation: ReputationClient
    stealth_registry: StealthRegistryClient
    announcer: AnnouncerClient
    model_id: int = 0
    gas: dict[str, list[int]] = field(default_factory=lambda: _GAS)

    def tx(self, fn: Any, sender: LocalAccount) -> Any:
        rcpt = self.net.transact(fn, sender=sender)
        names = {
            self.registry.address: "AgentRegistry",
            self.reputation.address: "Reputation",
            self.stealth_registry.address: "StealthMetaRegistry",
            self.announcer.address: "StealthAnnouncer",
        }
        self.note_gas(f"{names.get(fn.address, 'other')}.{fn.fn_name}", rcpt.gas_used)
        return rcpt

    def note_gas(self, label: str, gas: int) -> None:
        self.gas.setdefault(label, []).append(gas)

    def call(self, fn: Any) -> Any:
        return self.net.call(fn)

    def bal(self, addr: str) -> int:
        return self.token.balance_of(addr)

    def mint(self, to: str, amount: int) -> None:
        self.token.mint(to, amount, sender=self.owner)

    def add_node(self, acct: LocalAccount) -> None:
        self.nodes.register("http://n.test", b"\x02" + h(acct.address), [self.model_id], sender=acct)
        self.mint(acct.address, MIN_STAKE)
        self.token.approve(self.nodes.address, MIN_STAKE, sender=acct)
        self.nodes.stake(MIN_STAKE, sender=acct)

    def job_status(self, job_id: int) -> int:
        return int(self.market.read_job(job_id).status)

    def open_job(
        self, client: LocalAccount | None = None, node: LocalAccount | None = None, tag: str = "x"
    ) -> int:
        client = client or self.client
        node = node or self.node
        self.token.approve(self.market.address, PRICE, sender=client)
        self.market.open_job(
            self.model_id, node.address, h(tag), MODE_FHE, self.net.now() + 3000,
            max_price=PRICE, eval_keys_hash=h("keys"), sender=client,
        )  # fmt: skip
        return self.market.job_count()

    def submit(self, job_id: int, node: LocalAccount | None = None) -> None:
        job = self.market.read_job(job_id)
        server = bytes.fromhex(self.models.read_model(job.model_id).fhe_server_hash)
        commitment = job.input_commitment.to_bytes(32, "big")
        self.market.start_job(job_id, sender=node or self.node)
        self.market.submit_fhe(job_id, h("keys"), commitment, h("out"), server, sender=node or self.node)

    def settled_job(self, client: LocalAccount | None = None, node: LocalAccount | None = None) -> int:
        """A paid FHE job driven to Settled: open, node submits, client accepts."""
        client = client or self.client
        jid = self.open_job(client, node)
        self.submit(jid, node)
        self.market.accept(jid, sender=client)
        assert self.job_status(jid) == 3
        return jid


@pytest.fixture(scope="session", autouse=True)
def _dump_gas() -> Iterator[None]:
    """Write gas per call (median) for docs/agents.md after the session."""
    yield
    if _GAS:
        table = {k: sorted(v)[len(v) // 2] for k, v in sorted(_GAS.items())}
        GAS_FILE.write_text(json.dumps(table, indent=2))


@pytest.fixture
def aw(net: Network) -> AgentsWorld:
    owner, client, node, author, other = net.new_accounts(5)
    d = deploy_suite(net, owner, PARAMS)
    addrs = deploy_agents(net, owner, d)
    assert d.extra["reputation"] == addrs["reputation"]
    w = AgentsWorld(
        net=net,
        token=Token(net, d.token),
        models=ModelRegistry(net, d.models),
        nodes=NodeRegistry(net, d.nodes),
        market=JobMarket(net, d.market),
        owner=owner,
        client=client,
        node=node,
        author=author,
        other=other,
        registry=AgentRegistryClient(net, addrs["agent_registry"]),
        reputation=ReputationClient(net, addrs["reputation"]),
        stealth_registry=StealthRegistryClient(net, addrs["stealth_registry"]),
        announcer=AnnouncerClient(net, addrs["stealth_announcer"]),
    )
    rcpt = w.models.register_model("m", PRICE, 1000, h("onnx"), [], [], h("code"), sender=author)
    w.model_id = w.models.registered_model_id(rcpt)
    w.models.set_fhe_commitment(w.model_id, h("client"), h("server"), sender=author)
    w.add_node(node)
    w.mint(client.address, 100 * ONE)
    return w
