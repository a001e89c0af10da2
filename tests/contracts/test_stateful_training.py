"""Stateful random-walk test of TrainingMarket (issue #16): random moves of a sponsor, a coordinator, five
participants and an attacker against the real contract, checking after every step that the money adds up
(the market holds exactly the live escrow plus what finished/cancelled jobs still owe, plus the split's
rounding dust), that no honest participant ends below its stake and that the attacker never gains."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.chain import Network
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.token import Token
from veilproof.chain.training_market import TrainingMarket, deploy_training_market
from veilproof.errors import ContractReverted
from veilproof.fl.commit import leaf, merkle_root
from veilproof.fl.sign import UpdateDomain
from veilproof.fl.split import split_bounty

pytestmark = pytest.mark.slow
STAKE, CSTAKE, WINDOW = 10 * ONE_VEIL, 50 * ONE_VEIL, 600


@dataclass
class J:
    id: int
    bounty: int
    bps: int
    rounds: int
    min_p: int
    joined: list[str] = field(default_factory=list)
    started: bool = False
    posted: int = 0
    scores: dict[str, int] = field(default_factory=dict)
    state: str = "open"
    claimed: set[str] = field(default_factory=set)


class Machine:
    def __init__(self, net: Network, rng: random.Random) -> None:
        self.net, self.rng = net, rng
        owner, self.sponsor, self.coord, self.attacker, *self.parts = net.new_accounts(9)
        self.token = Token(net, net.deploy("Token", sender=owner).address)
        self.m: TrainingMarket = deploy_training_market(net, owner, self.token.address)
        for a in [self.sponsor, self.coord, self.attacker, *self.parts]:
            self.token.mint(a.address, 10_000 * ONE_VEIL, sender=owner)
            self.token.approve(self.m.address, 10**30, sender=a)
        self.start_bal = {a.address: self.token.balance_of(a.address) for a in [self.attacker, *self.parts]}
        self.jobs: list[J] = []

    def by(self, addr: str) -> LocalAccount:
        return next(a for a in [self.sponsor, self.coord, self.attacker, *self.parts] if a.address == addr)

    # --- moves ---------------------------------------------------------------------------------------
    def open(self) -> None:
        r = self.rng
        j = J(
            0,
            r.randint(1, 2_000) * ONE_VEIL,
            r.choice([0, 500, 1000, 10_000]),
            r.randint(1, 3),
            r.randint(1, 4),
        )
        j.id = self.m.open_job(
            coordinator=self.coord.address, arch_hash=keccak(text="a"), val_hash=keccak(text="v"),
            rounds=j.rounds, min_participants=j.min_p, coordinator_bps=j.bps, bounty=j.bounty,
            participant_stake=STAKE, coordinator_stake=CSTAKE, join_window=WINDOW, round_timeout=WINDOW,
            sender=self.sponsor,
        )  # fmt: skip
        self.jobs.append(j)

    def join(self, j: J) -> None:
        p = self.rng.choice(self.parts)
        ok = j.state == "open" and p.address not in j.joined
        try:
            self.m.join(j.id, sender=p)
            assert ok
            j.joined.append(p.address)
        except ContractReverted:
            assert not ok or self.m.job(j.id).join_deadline < self.net.now()

    def start(self, j: J) -> None:
        try:
            self.m.start(j.id, sender=self.coord)
            j.started, j.state = True, "running"
        except ContractReverted:
            assert j.state != "open" or len(j.joined) < j.min_p

    def post(self, j: J) -> None:
        r = self.rng
        if j.state != "running":
            return
        k = r.randint(j.min_p, len(j.joined))
        ps = sorted(r.sample(j.joined, k), key=lambda a: int(a, 16))
        sc = [r.choice([0, 0, r.randint(1, 10**6)]) for _ in ps]
        rnd, dom = j.posted + 1, UpdateDomain(self.net.chain_id, self.m.address, j.id)
        hs = [keccak(text=f"u{rnd}{p}") for p in ps]
        sigs = [dom.sign(self.by(p), rnd, h) for p, h in zip(ps, hs, strict=True)]
        root = merkle_root([leaf(p, h) for p, h in zip(ps, hs, strict=True)])
        self.m.post_round(j.id, rnd, keccak(text="m"), root, ps, sc, hs, sigs, sender=self.coord)
        j.posted += 1
        for p, s in zip(ps, sc, strict=True):
            j.scores[p] = j.scores.get(p, 0) + s
        if j.posted == j.rounds:
            j.state = "finished"

    def attack(self, j: J) -> None:
        """The attacker posts a round crediting itself, or claims from a job it is not in: both revert."""
        with pytest.raises(ContractReverted):
            self.m.post_round(
                j.id, j.posted + 1, keccak(text="x"), keccak(text="x"), [self.attacker.address], [10**9],
                [keccak(text="x")], [UpdateDomain(self.net.chain_id, self.m.address, j.id).sign(
                    self.attacker, j.posted + 1, keccak(text="x"))], sender=self.attacker,
            )  # fmt: skip
        if j.state in ("finished", "cancelled"):
            with pytest.raises(ContractReverted):
                self.m.claim(j.id, sender=self.attacker)

    def wait_and_end(self, j: J) -> None:
        self.net.time_travel(WINDOW + 1)
        for jj in self.jobs:
            if jj.state == "running":
                self.m.abandon(jj.id, sender=self.attacker)
                jj.state = "cancelled"
            elif jj.state == "open" and len(jj.joined) < jj.min_p:
                self.m.cancel(jj.id, sender=self.attacker)
                jj.state = "cancelled"

    def claim(self, j: J) -> None:
        if j.state not in ("finished", "cancelled"):
            return
        who = self.rng.choice([self.sponsor.address, self.coord.address, *j.joined])
        owed = self.m.owed(j.id, who)
        if owed and who not in j.claimed:
            assert self.m.claim(j.id, sender=self.by(who)) == owed
            j.claimed.add(who)

    # --- invariants ----------------------------------------------------------------------------------
    def check(self) -> None:
        expected = 0
        for j in self.jobs:
            assert self.m.job(j.id).state == j.state
            accts = {self.sponsor.address, self.coord.address, *j.joined}
            if j.state == "open":
                expected += j.bounty + STAKE * len(j.joined)
            elif j.state == "running":
                expected += j.bounty + STAKE * len(j.joined) + CSTAKE
            else:
                expected += sum(self.m.owed(j.id, a) for a in accts)
                if j.state == "finished":
                    expected += split_bounty(j.bounty, j.bps, {p: j.scores.get(p, 0) for p in j.joined}).dust
                    for p in j.joined:  # an honest participant is owed at least its stake (or got it)
                        assert p in j.claimed or self.m.owed(j.id, p) >= STAKE
        assert self.token.balance_of(self.m.address) == expected
        assert self.token.balance_of(self.attacker.address) <= self.start_bal[self.attacker.address]

    def step(self) -> None:
        r = self.rng
        if not self.jobs or r.random() < 0.06:
            self.open()
            return
        live = [j for j in self.jobs if j.state in ("open", "running")]
        j = r.choice(live) if live and r.random() < 0.8 else r.choice(self.jobs)
        if r.random() < 0.04:
            self.wait_and_end(j)
            return
        moves = {"open": [self.join] * 4 + [self.start] * 2 + [self.attack], "running": [self.post] * 3}
        move = r.choice(moves.get(j.state, [self.claim] * 3 + [self.attack]))
        move(j)


def test_training_market_money_adds_up_under_random_moves(net: Network) -> None:
    """A few seeded walks (VEILPROOF_STATEFUL_EXAMPLES / VEILPROOF_STATEFUL_STEPS for more)."""
    runs = int(os.environ.get("VEILPROOF_STATEFUL_EXAMPLES", "2"))
    steps = int(os.environ.get("VEILPROOF_STATEFUL_STEPS", "60"))
    for seed in range(runs):
        m = Machine(net, random.Random(seed))
        for _ in range(steps):
            m.step()
            m.check()
