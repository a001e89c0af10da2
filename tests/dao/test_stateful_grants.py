"""Stateful property test of Grants (money-holding contract): random grants, models, releases,
vote approvals and cancellations, by the DAO and by an attacker, against the real contracts on the
embedded chain. After every step: the escrow equals the contract's VEIL, the recipient got exactly
the milestones released, the attacker never gained, the DAO got back exactly what was cancelled.

The DAO is an EOA standing in for the timelock (Grants checks only ``msg.sender == owner``; the
governor path is tested in test_grants.py)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from veilproof.chain import connect
from veilproof.chain.facade import ZERO_ADDRESS
from veilproof.chain.grants import Check, Grants, Milestone
from veilproof.chain.model_registry import ModelRegistry
from veilproof.chain.token import Token
from veilproof.errors import ContractReverted

pytestmark = pytest.mark.slow
ONE = 10**18
CODE = b"\x11" * 32
NET = connect("embedded")


class GrantsMachine(RuleBasedStateMachine):
    @initialize()
    def deploy(self) -> None:
        self.owner, self.dao, self.recipient, self.attacker = NET.new_accounts(4)
        token = NET.deploy("Token", sender=self.owner)
        models = NET.deploy("ModelRegistry", sender=self.owner)
        # the optimistic track is not exercised here (tests/dao/test_optimistic_grants.py): any
        # non-zero votes contract satisfies the constructor
        g = NET.deploy(
            "Grants",
            token.address,
            models.address,
            ZERO_ADDRESS,
            self.dao.address,
            token.address,
            1_000 * ONE,
            600,
            400,
            sender=self.owner,
        )
        self.token, self.models, self.grants = (
            Token(NET, token.address),
            ModelRegistry(NET, models.address),
            Grants(NET, g.address),
        )
        self.token.mint(self.dao.address, 10_000 * ONE, sender=self.owner)
        self.token.approve(self.grants.address, 10_000 * ONE, sender=self.dao)
        self.ds = self.models.registered_dataset_id(
            self.models.register_dataset(b"\x07" * 32, "ds", sender=self.recipient)
        )
        self.ghost: dict[int, list[list]] = {}  # grant -> [amount, check, released] per milestone
        self.cancelled: set[int] = set()
        self.good_models: dict[int, int] = {}  # model id -> the last grant made before it (it serves those)
        self.paid = self.refunded = self.releases = 0
        self.dao_start = self.token.balance_of(self.dao.address)
        self.attacker_start = self.token.balance_of(self.attacker.address)

    @rule(
        amounts=st.lists(st.integers(1, 50), min_size=1, max_size=3),
        checks=st.lists(st.booleans(), min_size=3, max_size=3),
    )
    def create(self, amounts: list[int], checks: list[bool]) -> None:
        ms = [
            Milestone(a * ONE, Check.VOTE if c else Check.MODEL, dataset_id=self.ds, code_hash=CODE)
            for a, c in zip(amounts, checks, strict=False)
        ]
        NET.transact(self.grants.create_call(self.recipient.address, ms), sender=self.dao)
        self.ghost[self.grants.grant_count()] = [[m.amount, m.check, False] for m in ms]

    @precondition(lambda self: bool(self.ghost))
    @rule(bad=st.booleans(), by_attacker=st.booleans())
    def publish(self, bad: bool, by_attacker: bool) -> None:
        good = not bad  # Hypothesis draws False first: the conforming model is the common case
        who = self.attacker if by_attacker else self.recipient
        rcpt = self.models.register_model(
            "m", ONE, 0, b"\x09" * 32, [], [self.ds], CODE if good else b"\x22" * 32, sender=who
        )
        mid = self.models.registered_model_id(rcpt)
        self.models.set_zk_commitment(mid, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, sender=who)
        if good and not by_attacker:
            self.good_models[mid] = self.grants.grant_count()

    @precondition(lambda self: bool(self.ghost))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if not self.ghost:
            return
        gid = data.draw(st.sampled_from(sorted(self.ghost)))
        idx = data.draw(st.integers(0, len(self.ghost[gid]) - 1))
        if self.good_models and data.draw(st.booleans()):
            mid = data.draw(st.sampled_from(sorted(self.good_models)))
        else:
            mid = data.draw(st.integers(1, max(1, self.models.model_count())))
        amount, check, released = self.ghost[gid][idx]
        ok = (
            gid not in self.cancelled and not released and check == Check.MODEL
            and mid in self.good_models and gid <= self.good_models[mid]
        )  # fmt: skip
        try:
            self.grants.release(gid, idx, mid, sender=self.attacker)
        except ContractReverted:
            assert not ok, (gid, idx, mid)
            return
        assert ok, ("released without passing the check", gid, idx, mid)
        self.releases += 1
        self.ghost[gid][idx][2] = True
        self.paid += amount

    @precondition(lambda self: bool(self.ghost))
    @rule(data=st.data())
    def release_passing(self, data: st.DataObject) -> None:
        """A recipient's conforming model and an open CHECK_MODEL milestone of a grant made before it:
        anyone's release must pay."""
        todo = [
            (g, i, mid)
            for mid, last in self.good_models.items()
            for g, ms in self.ghost.items()
            if g <= last and g not in self.cancelled
            for i, m in enumerate(ms)
            if m[1] == Check.MODEL and not m[2]
        ]
        if not todo:
            return
        gid, idx, mid = data.draw(st.sampled_from(todo))
        self.grants.release(gid, idx, mid, sender=self.attacker)
        self.ghost[gid][idx][2] = True
        self.paid += self.ghost[gid][idx][0]
        self.releases += 1

    @precondition(lambda self: bool(self.ghost))
    @rule(data=st.data(), by_attacker=st.booleans())
    def approve(self, data: st.DataObject, by_attacker: bool) -> None:
        if not self.ghost:
            return
        gid = data.draw(st.sampled_from(sorted(self.ghost)))
        idx = data.draw(st.integers(0, len(self.ghost[gid]) - 1))
        ok = not by_attacker and gid not in self.cancelled and not self.ghost[gid][idx][2]
        try:
            NET.transact(
                self.grants.approve_call(gid, idx), sender=self.attacker if by_attacker else self.dao
            )
        except ContractReverted:
            assert not ok
            return
        assert ok
        self.ghost[gid][idx][2] = True
        self.paid += self.ghost[gid][idx][0]

    @precondition(lambda self: bool(self.ghost))
    @rule(data=st.data(), by_attacker=st.booleans())
    def cancel(self, data: st.DataObject, by_attacker: bool) -> None:
        if not self.ghost:
            return
        gid = data.draw(st.sampled_from(sorted(self.ghost)))
        ok = not by_attacker and gid not in self.cancelled
        try:
            NET.transact(self.grants.cancel_call(gid), sender=self.attacker if by_attacker else self.dao)
        except ContractReverted:
            assert not ok
            return
        assert ok
        self.cancelled.add(gid)
        self.refunded += sum(m[0] for m in self.ghost[gid] if not m[2])

    def teardown(self) -> None:
        if hasattr(self, "releases"):
            print(
                f"good {self.good_models} grants {len(self.ghost)} check-releases {self.releases} cancelled {len(self.cancelled)}"
            )

    @invariant()
    def money_adds_up(self) -> None:
        if not hasattr(self, "ghost"):
            return
        escrow = sum(m[0] for g, ms in self.ghost.items() if g not in self.cancelled for m in ms if not m[2])
        assert self.token.balance_of(self.grants.address) == escrow
        for g, ms in self.ghost.items():
            assert self.grants.grant(g).escrowed == (
                0 if g in self.cancelled else sum(m[0] for m in ms if not m[2])
            )
        assert self.token.balance_of(self.recipient.address) == self.paid
        assert self.token.balance_of(self.attacker.address) == self.attacker_start
        created = sum(m[0] for ms in self.ghost.values() for m in ms)
        assert self.token.balance_of(self.dao.address) == self.dao_start - created + self.refunded


GrantsMachine.TestCase.settings = settings(max_examples=8, stateful_step_count=25, deadline=None)
test_grants_stateful = GrantsMachine.TestCase
