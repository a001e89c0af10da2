"""Stateful property test of DataRegistry (issue #15): random moves of three data subjects, a curator,
a host, a buyer and a stranger against the real contract, checking after every step that

* the tokens add up: the registry holds exactly the open escrow plus every pending balance, and the
  token supply never changes;
* each account's pending balance equals a Python mirror of the split (curator's cut, contributors by
  weight, remainder to the curator) computed from the sales delivered, bit for bit;
* no version committed after a revocation contains the revoked record, and a tainted version is
  never sold or delivered.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import pytest
from data_world import PRICE, DataWorld, record
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from market_actions import revert, snapshot

from veilproof.chain import Network
from veilproof.chain.data_registry import USE_TRAINING, record_proof
from veilproof.errors import DataReverted, RecordRevoked, VersionTainted

ALGO = keccak(b"algo")
CURATOR_BPS = 1000


class DataMarketMoves(RuleBasedStateMachine):
    world: ClassVar[DataWorld]
    snap: ClassVar[Any]

    def __init__(self) -> None:
        super().__init__()
        w = type(self).world
        revert(w.net, type(self).snap)
        type(self).snap = snapshot(w.net)  # anvil's evm_revert consumes its snapshot
        self.w = w
        self.supply = w.token.total_supply()
        self.live: dict[bytes, LocalAccount] = {}  # registered, not revoked
        self.revoked: set[bytes] = set()
        self.counter = 0
        self.versions: dict[int, list[bytes]] = {}
        self.tainted: set[int] = set()
        self.open: dict[int, int] = {}  # sale -> version
        self.expected: dict[str, int] = {}  # mirror of pending

    # --- moves --------------------------------------------------------------------------------------
    @rule(s=st.integers(0, 2), n=st.integers(1, 3))
    def contribute(self, s: int, n: int) -> None:
        subject = self.w.subjects[s]
        recs = []
        for _ in range(n):
            self.counter += 1
            recs.append(record(subject.address, 1000 + self.counter))
        self.w.reg.register_records(
            self.w.dataset_id, [self.w.sign(subject, r) for r in recs], sender=self.w.curator
        )
        self.live.update({r: subject for r in recs})

    @rule(i=st.integers(0, 1000))
    def revoke(self, i: int) -> None:
        if not self.live:
            return
        rec = sorted(self.live)[i % len(self.live)]
        self.w.reg.revoke(self.w.dataset_id, rec, sender=self.live.pop(rec))
        self.revoked.add(rec)

    @rule(keep_revoked=st.booleans())
    def commit(self, keep_revoked: bool) -> None:
        recs = sorted(self.live)
        if keep_revoked and self.revoked:  # the curator tries to keep a revoked record
            with pytest.raises(RecordRevoked):
                self.w.reg.commit_version(
                    self.w.dataset_id, 0, [*recs, min(self.revoked)], sender=self.w.curator
                )
            return
        if not recs:
            return
        vid = self.w.reg.commit_version(self.w.dataset_id, 0, recs, sender=self.w.curator)
        self.versions[vid] = recs

    @rule(i=st.integers(0, 1000))
    def flag(self, i: int) -> None:
        hits = [(v, r) for v, recs in self.versions.items() for r in recs if r in self.revoked]
        if not hits:
            return
        v, r = hits[i % len(hits)]
        try:
            self.w.reg.flag_revoked(v, r, record_proof(self.versions[v], r), sender=self.w.buyer)
        except DataReverted as e:
            assert e.reason == "already flagged"
        self.tainted.add(v)

    @rule(i=st.integers(0, 1000))
    def buy(self, i: int) -> None:
        if not self.versions:
            return
        v = sorted(self.versions)[i % len(self.versions)]
        if v in self.tainted:
            with pytest.raises(VersionTainted):
                self.w.reg.buy(v, USE_TRAINING, ALGO, sender=self.w.buyer)
            return
        self.open[self.w.reg.buy(v, USE_TRAINING, ALGO, sender=self.w.buyer)] = v

    @rule(i=st.integers(0, 1000), stranger=st.booleans())
    def deliver(self, i: int, stranger: bool) -> None:
        if not self.open:
            return
        sale = sorted(self.open)[i % len(self.open)]
        v = self.open[sale]
        if stranger:
            with pytest.raises(DataReverted, match="not data host"):
                self.w.reg.deliver(sale, keccak(b"x"), sender=self.w.curator)
            return
        if v in self.tainted:
            with pytest.raises(VersionTainted):
                self.w.reg.deliver(sale, keccak(b"x"), sender=self.w.host)
            return
        c = self.w.reg.contributors(v)
        self.w.reg.deliver(sale, keccak(b"x"), sender=self.w.host)
        del self.open[sale]
        pool = PRICE - PRICE * CURATOR_BPS // 10_000
        total, paid = sum(c.weights), 0
        for who, wt in zip(c.subjects, c.weights, strict=True):
            share = pool * wt // total if total else 0
            self.expected[who] = self.expected.get(who, 0) + share
            paid += share
        cur = self.w.curator.address
        self.expected[cur] = self.expected.get(cur, 0) + PRICE - paid

    @rule()
    def refund_late(self) -> None:
        if not self.open:
            return
        self.w.net.time_travel(3601)
        for sale in sorted(self.open):
            self.w.reg.refund(sale, sender=self.w.buyer)
            b = self.w.buyer.address
            self.expected[b] = self.expected.get(b, 0) + PRICE
        self.open.clear()

    @rule(i=st.integers(0, 1000), scores=st.lists(st.integers(-50, 50), min_size=3, max_size=3))
    def score(self, i: int, scores: list[int]) -> None:
        if not self.versions:
            return
        v = sorted(self.versions)[i % len(self.versions)]
        n = len(self.w.reg.contributors(v).subjects)
        self.w.reg.post_scores(v, scores[:n], sender=self.w.owner)

    @rule(k=st.integers(0, 5))
    def withdraw(self, k: int) -> None:
        acct = [self.w.curator, self.w.buyer, self.w.host, *self.w.subjects][k]
        owed = self.w.reg.pending(acct.address)
        if owed == 0:
            with pytest.raises(DataReverted, match="nothing to withdraw"):
                self.w.reg.withdraw(sender=acct)
            return
        before = self.w.token.balance_of(acct.address)
        self.w.reg.withdraw(sender=acct)
        assert self.w.token.balance_of(acct.address) == before + owed
        self.expected[acct.address] = 0

    # --- what must always hold ----------------------------------------------------------------------
    @invariant()
    def tokens_add_up(self) -> None:
        w = self.w
        assert w.token.balance_of(w.reg.address) == w.held()
        assert w.reg.escrowed() == PRICE * len(self.open)
        assert w.token.total_supply() == self.supply
        for a in [w.curator, w.buyer, w.host, *w.subjects]:
            assert w.reg.pending(a.address) == self.expected.get(a.address, 0), a.address

    @invariant()
    def versions_hold_no_record_revoked_before_them(self) -> None:
        for v in self.versions:
            assert (v in self.tainted) == (self.w.reg.read_version(v).revoked_count > 0)


@pytest.mark.slow
def test_data_market_moves(net: Network) -> None:
    DataMarketMoves.world = DataWorld.build(net, curator_bps=CURATOR_BPS)
    DataMarketMoves.snap = snapshot(net)
    embedded = net.kind == "embedded"
    examples = int(os.environ.get("VEILPROOF_STATEFUL_EXAMPLES", "4" if embedded else "10"))
    steps = int(os.environ.get("VEILPROOF_STATEFUL_STEPS", "20" if embedded else "30"))
    DataMarketMoves.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    DataMarketMoves.TestCase().runTest()
