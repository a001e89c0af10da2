"""Stateful property test of ReceiptMarket (docs/settlement.md): random moves of an honest node, a
cheating node and two clients (one of them griefing) against the real contracts, checking after every
step that the money adds up, that an honest party lost nothing and that no receipt paid twice.

* the **honest node** accepts an order only when the client's deposit minus its unsettled orders
  covers it and no withdrawal is pending, delivers, and settles its receipts (and answers demands)
  before time moves on (its maintenance loop);
* the **cheater** accepts orders and delivers nothing, settles receipts that are not its own,
  replays and forges receipts, and signs deliveries whose proofs fail;
* orders are priced like JobMarket jobs: the owner's royalty (list price x royalty_bps, bound in the
  order) plus the node's offer, often above the list price; the owner must get exactly its royalty and
  the honest node exactly price - royalty - fee, whatever the offer;
* the **clients** deposit, sign orders and receipts for what they got, request and take
  withdrawals; the griefing one also demands on orders it signed a receipt for, and both demand on
  the cheater's undelivered orders and challenge its bad deliveries.

The verifier is RejectingVerifier (a valid proof needs EZKL: tests/zk/test_receipt_market_proofs.py), so
every proof a node puts on chain here is a bad one.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import ClassVar

import pytest
from eth_account.signers.local import LocalAccount
from market_world import CONFIG, ONE, World, field_elem

from veilproof.chain import Network
from veilproof.chain.deploy import Deployment, ReceiptParams, deploy_receipt_market, deploy_suite
from veilproof.chain.receipt_market import Order, ReceiptMarket, SignedReceipt

pytestmark = pytest.mark.slow
PRICE = 2 * ONE
BOND = ONE
SLASH = 50 * ONE
WINDOW = 600
PARAMS = ReceiptParams(
    max_deadline=3600,
    claim_window=WINDOW,
    response_window=WINDOW,
    withdraw_delay=3 * 3600,
    slash_amount=SLASH,
    demand_bond=BOND,
    claim_surcharge=ONE // 10,
    fee_bps=300,
)
OUT = field_elem("out")


@dataclass
class Job:
    order: Order
    acceptance: bytes
    receipt: SignedReceipt | None = None  # the client signed it (it got the result)
    settled: bool = False


@dataclass
class Book:
    jobs: list[Job] = field(default_factory=list)

    def unsettled(self, client: str) -> int:
        return sum(j.order.max_price for j in self.jobs if j.order.client == client and not j.settled)


class ReceiptMachine:
    net: Network
    seen: ClassVar[Counter[str]] = Counter()  # what happened over all runs: the test checks each path ran

    # the core suite, deployed once per session and chain (the test runs on the embedded chain and on
    # anvil: a suite deployed on one must not be driven with accounts funded on the other)
    _bases: ClassVar[dict[int, tuple[World, int]]] = {}

    def __init__(self, net: Network, rng: random.Random) -> None:
        self.net, self.rng = net, rng
        self.deploy()

    def deploy(self) -> None:
        """A fresh ReceiptMarket, nodes and clients on the core suite deployed once (deploying the
        suite per run would spend most of the test's time in deployment)."""
        net = self.net
        if id(net) not in ReceiptMachine._bases:
            owner, author, anyone = net.new_accounts(3)
            d = deploy_suite(net, owner, CONFIG)
            w0 = World(
                net,
                net.contract("Token", d.token),
                net.contract("ModelRegistry", d.models),
                net.contract("NodeRegistry", d.nodes),
                net.contract("JobMarket", d.market),
                owner,
                owner,
                author,
                owner,
                anyone,
                anyone,
            )
            ReceiptMachine._bases[id(net)] = (w0, w0.register_model(price=PRICE))
        w0, model_id = ReceiptMachine._bases[id(net)]
        self.owner, self.author, self.anyone = w0.owner, w0.author, w0.other
        self.honest, self.cheat, self.c1, self.c2 = net.new_accounts(4)
        w = replace(w0, client=self.c1, node=self.honest, other=self.cheat, model_id=model_id)
        self.w = w
        w.add_node(self.honest, [w.model_id], stake=200 * ONE)
        w.add_node(self.cheat, [w.model_id], stake=200 * ONE)
        d2 = Deployment(
            net.chain_id,
            w.token.address,
            w.models.address,
            w.nodes.address,
            w.market.address,
            self.owner.address,
        )
        d2.extra["zk_adapter"] = w.deploy_fixture("RejectingVerifier").address
        deploy_receipt_market(net, self.owner, d2, PARAMS)
        self.rm = ReceiptMarket(net, d2.extra["receipt_market"])
        for c in (self.c1, self.c2):
            w.mint(c, 100 * ONE)
            w.approve(c, self.rm.contract)
        self.books = {self.honest.address: Book(), self.cheat.address: Book()}
        self.nonce = 0
        self.paid: dict[bytes, int] = {}
        self.bonds: dict[bytes, str] = {}  # open demands: order hash -> client
        self.honest_stake = int(w.node_info(self.honest)["stake"])
        self.c1_net = 0  # what c1 put in minus what it got back (deposits, bonds, withdrawals)
        self.c1_owed = 0  # the prices of c1's receipts that settled
        self.royalty = self.rm.model_royalty(model_id)
        self.owner_due = 0  # royalties of settled orders: the author's pending, exactly
        self.fees_due = 0  # protocol fees of settled orders: the treasury's (owner's) pending
        self.honest_due = 0  # what the honest node's pending must be: its part of each receipt + bonds

    # ------------------------------------------------------------------ helpers
    def _client(self, i: int) -> LocalAccount:
        return (self.c1, self.c2)[i]

    def _node(self, honest: bool) -> LocalAccount:
        return self.honest if honest else self.cheat

    def _settle(self, node: LocalAccount, receipts: list[SignedReceipt]) -> None:
        if not receipts:
            return
        res = self.rm.settle(receipts, sender=node)
        self.seen["settled"] += len(res.settled)
        self.seen["skipped"] += len(res.skipped)
        for oh in res.settled:
            self.paid[oh] = self.paid.get(oh, 0) + 1
        for j in self.books[node.address].jobs:
            if j.receipt is not None and self.rm.order_hash(j.order) in res.settled:
                j.settled = True
                if j.order.client == self.c1.address:
                    self.c1_owed += j.receipt.price
                fee = (j.receipt.price - j.order.royalty) * PARAMS.fee_bps // 10_000
                self.owner_due += j.order.royalty
                self.fees_due += fee
                if node == self.honest:
                    self.honest_due += j.receipt.price - j.order.royalty - fee

    def _honest_maintenance(self) -> None:
        """The honest node's loop: settle every receipt it holds, close demands it answered."""
        book = self.books[self.honest.address]
        self._settle(self.honest, [j.receipt for j in book.jobs if j.receipt is not None and not j.settled])
        for j in book.jobs:
            oh = self.rm.order_hash(j.order)
            if oh in self.bonds and j.settled:
                self.rm.resolve(j.order, sender=self.honest)
                self.seen["griefing demand answered"] += 1
                self.honest_due += BOND
                self.bonds.pop(oh)

    # ------------------------------------------------------------------ clients
    def deposit(self, i: int, amount: int) -> None:
        c = self._client(i)
        for node in (self.honest, self.cheat):
            if self.w.bal(c) >= amount * ONE:
                self.rm.deposit(node.address, amount * ONE, sender=c)
                if c == self.c1:
                    self.c1_net += amount * ONE

    def order(self, i: int, honest: bool, price: int) -> None:
        """The client signs an order at the owner's royalty plus the node's offer (half a VEIL per
        `price` unit: from below the list price to 3x it); the node accepts it (the honest one only when
        covered). The honest node delivers and the client signs a receipt; the cheater delivers nothing."""
        c, node = self._client(i), self._node(honest)
        self.nonce += 1
        commit = field_elem(f"in{self.nonce}")
        o = Order(
            c.address,
            node.address,
            self.w.model_id,
            commit,
            self.royalty + price * ONE // 2,
            self.net.now() + 300,
            self.nonce,
            royalty=self.royalty,
        )
        if o.max_price > PRICE:
            self.seen["offer above list price"] += 1
        book = self.books[node.address]
        if honest:
            # the node's one read before it accepts (ReceiptMarket.order_state), as the node does it
            st = self.rm.order_state(c.address, node.address, o.nonce)
            assert not st.nonce_used and st.now == self.net.now()
            covered = st.deposit - book.unsettled(c.address) >= o.max_price
            if not covered or st.withdraw_unlock_at != 0:
                return
        job = Job(o, self.rm.sign_acceptance(o, node))
        if honest:
            job.receipt = self.rm.sign_receipt(o, OUT, o.max_price, c)
        book.jobs.append(job)

    def request_withdraw(self, i: int, amount: int) -> None:
        for node in (self.honest, self.cheat):
            self.rm.request_withdraw(node.address, amount * ONE, sender=self._client(i))

    def withdraw(self, i: int) -> None:
        c = self._client(i)
        for node in (self.honest, self.cheat):
            amount, unlock = self.rm.withdrawal(c.address, node.address)
            if unlock and self.net.now() >= unlock:
                before = self.w.bal(c)
                self.rm.withdraw(node.address, sender=c)
                self.seen["withdraw"] += 1
                if c == self.c1:
                    self.c1_net -= self.w.bal(c) - before

    def demand(self, pick: random.Random) -> None:
        """Clients demand on the cheater's undelivered orders; the griefing c2 also on orders it got."""
        now = self.net.now()
        cands = [
            j
            for book in self.books.values()
            for j in book.jobs
            if j.order.deadline < now <= j.order.deadline + WINDOW
            and self.rm.order_hash(j.order) not in self.bonds
            and not self.rm.nonce_used(j.order.client, j.order.node, j.order.nonce)
            and (j.receipt is None or j.order.client == self.c2.address)
        ]
        if not cands:
            return
        j = pick.choice(cands)
        c = self.c1 if j.order.client == self.c1.address else self.c2
        self.rm.demand(j.order, j.acceptance, sender=c)
        self.seen["demand on a delivered order" if j.receipt else "demand on an undelivered order"] += 1
        self.bonds[self.rm.order_hash(j.order)] = c.address
        if c == self.c1:
            self.c1_net += BOND

    def resolve_expired(self) -> None:
        now = self.net.now()
        for book in self.books.values():
            for j in book.jobs:
                oh = self.rm.order_hash(j.order)
                if oh in self.bonds and now >= self.rm.demand_of(j.order).due:
                    paid = self.rm.nonce_used(j.order.client, j.order.node, j.order.nonce)
                    self.rm.resolve(j.order, sender=self.anyone)
                    self.seen["resolve: paid" if paid else "resolve: slash"] += 1
                    self.bonds.pop(oh)
                    if not paid and j.order.client == self.c1.address:
                        self.c1_net -= BOND  # back to c1 (pending, counted as returned)
                        self.rm.collect(sender=self.c1)

    # ------------------------------------------------------------------ the cheater
    def cheat_settles_others_receipts(self, pick: random.Random) -> None:
        """Replays (settled or not) and forged-price copies of the honest node's receipts."""
        rs = [j.receipt for j in self.books[self.honest.address].jobs if j.receipt is not None]
        if not rs:
            return
        r = pick.choice(rs)
        forged = replace(r, order=replace(r.order, node=self.cheat.address))
        self._settle(self.cheat, [r, forged, replace(r, price=r.price + 1)])

    def replayed_receipts_pay_nothing(self, pick: random.Random) -> None:
        rs = [j.receipt for j in self.books[self.honest.address].jobs if j.settled and j.receipt is not None]
        if rs:
            self._settle(self.honest, [pick.choice(rs)])  # the honest key, replaying

    def cheat_delivers_bad_proof_and_is_challenged(self, pick: random.Random) -> None:
        jobs = [
            j
            for j in self.books[self.cheat.address].jobs
            if not self.rm.nonce_used(j.order.client, j.order.node, j.order.nonce)
            and self.net.now() <= j.order.deadline + 2 * WINDOW
        ]
        if not jobs:
            return
        j = pick.choice(jobs)
        inst = [int.from_bytes(j.order.input_commitment, "big"), 1]
        sig = self.rm.sign_delivery(j.order, inst, b"\x01" * 64, self.cheat)
        oh = self.rm.order_hash(j.order)
        self.rm.challenge(j.order, inst, b"\x01" * 64, sig, sender=self.anyone)
        self.seen["challenge"] += 1
        if self.bonds.pop(oh, None) == self.c1.address:
            self.c1_net -= BOND
            self.rm.collect(sender=self.c1)

    # ------------------------------------------------------------------ time
    def time_passes(self, seconds: int) -> None:
        self._honest_maintenance()
        # the honest node is paid for every result a client signed for, before any deadline moves
        assert all(j.settled for j in self.books[self.honest.address].jobs if j.receipt is not None)
        self.net.time_travel(seconds)

    # ------------------------------------------------------------------ invariants
    def money_adds_up(self) -> None:
        rm, w = self.rm, self.w
        accounts = [self.honest, self.cheat, self.c1, self.c2, self.author, self.owner, self.anyone]
        deposits = sum(
            rm.deposit_of(c.address, n.address) for c in (self.c1, self.c2) for n in (self.honest, self.cheat)
        )
        pending = sum(rm.pending(a.address) for a in accounts)
        assert w.bal(rm.address) == deposits + pending + BOND * len(self.bonds)

    def honest_parties_lose_nothing(self) -> None:
        # the owner takes its royalty and no part of a node's offer; the node keeps its offer less the fee
        assert self.rm.pending(self.author.address) == self.owner_due
        assert self.rm.pending(self.owner.address) == self.fees_due
        assert self.rm.pending(self.honest.address) == self.honest_due
        assert int(self.w.node_info(self.honest)["stake"]) == self.honest_stake
        # c1 never griefs: all it ever parted with is what its settled receipts say (and open bonds)
        left = sum(self.rm.deposit_of(self.c1.address, n.address) for n in (self.honest, self.cheat))
        open_bonds = BOND * sum(1 for c in self.bonds.values() if c == self.c1.address)
        assert left + self.c1_owed + open_bonds == self.c1_net

    def order_state_agrees(self) -> None:
        """The one-call read an order is accepted on says what the separate reads say."""
        for c in (self.c1, self.c2):
            for n in (self.honest, self.cheat):
                jobs = [j for j in self.books[n.address].jobs if j.order.client == c.address]
                nonce = jobs[-1].order.nonce if jobs else 0
                st = self.rm.order_state(c.address, n.address, nonce)
                assert st.deposit == self.rm.deposit_of(c.address, n.address)
                assert st.withdraw_unlock_at == self.rm.withdrawal(c.address, n.address)[1]
                assert st.nonce_used == self.rm.nonce_used(c.address, n.address, nonce)

    def no_order_paid_twice(self) -> None:
        assert all(n == 1 for n in self.paid.values())
        for j in self.books[self.cheat.address].jobs:
            assert self.rm.order_hash(j.order) not in self.paid  # the cheater delivered nothing

    # ------------------------------------------------------------------ the walk
    def step(self) -> str:
        """One random move with random arguments; returns its name."""
        r = self.rng
        moves = {
            "deposit": lambda: self.deposit(r.randrange(2), r.randint(1, 12)),
            "order": lambda: self.order(r.randrange(2), r.random() < 0.6, r.randint(1, 12)),
            "request_withdraw": lambda: self.request_withdraw(r.randrange(2), r.randint(1, 30)),
            "withdraw": lambda: self.withdraw(r.randrange(2)),
            "demand": lambda: self.demand(r),
            "resolve_expired": self.resolve_expired,
            "cheat_settles_others_receipts": lambda: self.cheat_settles_others_receipts(r),
            "replayed_receipts_pay_nothing": lambda: self.replayed_receipts_pay_nothing(r),
            "cheat_delivers_bad_proof_and_is_challenged": lambda: self.cheat_delivers_bad_proof_and_is_challenged(
                r
            ),
            "honest_node_loop": self._honest_maintenance,
            "time_passes": lambda: self.time_passes(r.choice([60, 400, 700, 3 * 3600])),
        }
        weights: dict[str, float] = {
            "deposit": 3,
            "order": 6,
            "time_passes": 3,
            "demand": 3,
            "resolve_expired": 2,
            "honest_node_loop": 2,
        }
        weights["request_withdraw"] = 0.3  # a pending withdrawal stops the honest node accepting
        name = r.choices(list(moves), weights=[weights.get(k, 1) for k in moves])[0]
        moves[name]()
        return name

    def check(self) -> None:
        self.money_adds_up()
        self.honest_parties_lose_nothing()
        self.no_order_paid_twice()
        self.order_state_agrees()


def test_receipt_market_under_attack(net: Network) -> None:
    """Seeded random walks (a failure names its seed and the moves so far, so it reproduces); more
    with VEILPROOF_STATEFUL_EXAMPLES / VEILPROOF_STATEFUL_STEPS."""
    runs = int(os.environ.get("VEILPROOF_STATEFUL_EXAMPLES", "3"))
    steps = int(os.environ.get("VEILPROOF_STATEFUL_STEPS", "60"))
    for seed in range(runs):
        m = ReceiptMachine(net, random.Random(seed))
        done: list[str] = []
        for _ in range(steps):
            done.append(m.step())
            try:
                m.check()
            except AssertionError as e:
                raise AssertionError(f"seed {seed}, after {done}: {e}") from e
        m._honest_maintenance()
        m.check()
    seen = ReceiptMachine.seen
    paths = (
        "settled",
        "skipped",
        "demand on an undelivered order",
        "resolve: slash",
        "challenge",
        "withdraw",
        "offer above list price",
    )
    missing = [k for k in paths if not seen[k]]
    assert not missing, f"paths never taken: {missing} (seen: {dict(seen)})"
