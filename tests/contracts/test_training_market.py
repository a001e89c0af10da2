"""TrainingMarket (issue #16) on the real EVM: lifecycle, inclusion proofs, payout == Python mirror, attacks.

Each attack test is the attacker's real transaction against the deployed contract; it must revert (or
gain nothing). The Flower-driven end-to-end run is in tests/fl/."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.chain import Network
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.token import Token
from veilproof.chain.training_market import TrainingMarket, deploy_training_market
from veilproof.errors import ContractReverted
from veilproof.fl.commit import leaf, merkle_proof, merkle_root, verify_proof
from veilproof.fl.sign import UpdateDomain
from veilproof.fl.split import split_bounty

BOUNTY = 1_000 * ONE_VEIL
STAKE = 10 * ONE_VEIL
CSTAKE = 50 * ONE_VEIL


@dataclass
class TW:
    net: Network
    token: Token
    market: TrainingMarket
    owner: LocalAccount
    sponsor: LocalAccount
    coord: LocalAccount
    parts: list[LocalAccount]
    job: int = 0

    def fund(self, who: LocalAccount, amount: int) -> None:
        self.token.mint(who.address, amount, sender=self.owner)
        self.token.approve(self.market.address, amount, sender=who)

    @property
    def domain(self) -> UpdateDomain:
        return UpdateDomain(self.net.chain_id, self.market.address, self.job)

    def signed(self, rnd: int, ps: list[str], signers: dict[str, LocalAccount] | None = None):
        """Update hashes, their signatures (by each participant unless ``signers`` says otherwise), root."""
        by = {str(a.address): a for a in self.parts} | (signers or {})
        hs = [keccak(text=f"u{rnd}{p}") for p in ps]
        sigs = [self.domain.sign(by[p], rnd, h) for p, h in zip(ps, hs, strict=True)]
        return hs, sigs, merkle_root([leaf(p, h) for p, h in zip(ps, hs, strict=True)])

    def post(
        self,
        rnd: int,
        who: list[LocalAccount],
        scores: list[int],
        sender: LocalAccount | None = None,
        signers: dict[str, LocalAccount] | None = None,
    ):
        ps: list[str] = sorted((str(a.address) for a in who), key=lambda a: int(a, 16))
        hs, sigs, root = self.signed(rnd, ps, signers)
        return self.market.post_round(
            self.job, rnd, keccak(text=f"m{rnd}"), root, ps, scores, hs, sigs, sender=sender or self.coord
        ), ps


@pytest.fixture
def tw(net: Network) -> TW:
    owner, sponsor, coord, *parts = net.new_accounts(8)
    token = Token(net, net.deploy("Token", sender=owner).address)
    w = TW(net, token, deploy_training_market(net, owner, token.address), owner, sponsor, coord, parts)
    w.fund(sponsor, BOUNTY)
    w.fund(coord, CSTAKE)
    for p in parts:
        w.fund(p, STAKE)
    w.job = w.market.open_job(
        coordinator=coord.address,
        arch_hash=keccak(text="arch"),
        val_hash=keccak(text="val"),
        rounds=2,
        min_participants=3,
        coordinator_bps=1000,
        bounty=BOUNTY,
        participant_stake=STAKE,
        coordinator_stake=CSTAKE,
        join_window=600,
        round_timeout=600,
        sender=sponsor,
    )
    return w


def _running(tw: TW) -> list[str]:
    for p in tw.parts:
        tw.market.join(tw.job, sender=p)
    tw.market.start(tw.job, sender=tw.coord)
    return sorted((a.address for a in tw.parts), key=lambda a: int(a, 16))


def test_lifecycle_pays_as_the_mirror_and_proves_inclusion(tw: TW) -> None:
    ps = _running(tw)
    r1 = [500_000, 400_000, 0, 300_000, 0]
    r2 = [100_000, 50_000, 0, 70_000, 0]
    rcpt1, _ = tw.post(1, tw.parts, r1)
    rcpt2, _ = tw.post(2, tw.parts, r2)
    print(f"gas per round (5 participants): {rcpt1.gas_used}, {rcpt2.gas_used}")
    assert tw.market.job(tw.job).state == "finished"
    # inclusion: each participant's proof against round 1's posted root, on chain and off
    leaves = [leaf(p, keccak(text=f"u1{p}")) for p in ps]
    for i, p in enumerate(ps):
        proof = merkle_proof(leaves, i)
        assert verify_proof(tw.market.round_root(tw.job, 1), leaves[i], proof)
        assert tw.market.verify_inclusion(tw.job, 1, p, keccak(text=f"u1{p}"), proof)
        assert not tw.market.verify_inclusion(tw.job, 1, p, keccak(text="other update"), proof)
    totals = {p: a + b for p, a, b in zip(ps, r1, r2, strict=True)}
    mirror = split_bounty(BOUNTY, 1000, totals)
    for a in tw.parts:
        before = tw.token.balance_of(a.address)
        assert tw.market.owed(tw.job, a.address) == STAKE + mirror.shares[a.address]
        if STAKE + mirror.shares[a.address]:
            tw.market.claim(tw.job, sender=a)
        assert tw.token.balance_of(a.address) - before == STAKE + mirror.shares[a.address]
    zero = [p for p, s in totals.items() if s == 0]
    assert zero and all(mirror.shares[p] == 0 for p in zero)  # the zero scorers get their stake only
    assert tw.market.claim(tw.job, sender=tw.coord) == mirror.coordinator_fee + CSTAKE
    assert tw.token.balance_of(tw.market.address) == mirror.dust
    with pytest.raises(ContractReverted, match="already claimed"):
        tw.market.claim(tw.job, sender=tw.coord)
    with pytest.raises(ContractReverted, match="nothing owed"):
        tw.market.claim(tw.job, sender=tw.sponsor)


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("outsider_posts", "only the coordinator"),
        ("unjoined_in_set", "participant did not join"),
        ("duplicate_in_set", "participants not strictly increasing"),
        ("skips_a_round", "wrong round number"),
        ("too_few", "too few participants in round"),
        ("scores_mismatch", "differ in length"),
    ],
)
def test_round_posting_attacks_revert(tw: TW, attack: str, reason: str) -> None:
    ps = _running(tw)
    model = keccak(text="m")
    outsider = tw.sponsor.address
    args: tuple[int, list[str], list[int], LocalAccount] = (1, ps, [1] * 5, tw.coord)
    if attack == "outsider_posts":
        args = (1, ps, [1] * 5, tw.parts[0])
    elif attack == "unjoined_in_set":
        outsider = tw.sponsor.address
        args = (1, sorted([*ps[:4], outsider], key=lambda a: int(a, 16)), [1] * 5, tw.coord)
    elif attack == "duplicate_in_set":
        args = (1, [ps[0], ps[0], ps[1]], [1, 1, 1], tw.coord)
    elif attack == "skips_a_round":
        args = (2, ps, [1] * 5, tw.coord)
    elif attack == "too_few":
        args = (1, ps[:2], [1, 1], tw.coord)
    elif attack == "scores_mismatch":
        args = (1, ps, [1] * 4, tw.coord)
    rnd, who, scores, sender = args
    hs, sigs, root = (
        tw.signed(rnd, who) if attack != "unjoined_in_set" else tw.signed(rnd, who, {outsider: tw.sponsor})
    )
    with pytest.raises(ContractReverted, match=reason):
        tw.market.post_round(tw.job, rnd, model, root, who, scores, hs, sigs, sender=sender)


def test_coordinator_that_stops_posting_loses_its_stake_to_the_sponsor(tw: TW) -> None:
    _running(tw)
    tw.post(1, tw.parts, [1, 1, 1, 1, 1])
    with pytest.raises(ContractReverted, match="coordinator not late"):
        tw.market.abandon(tw.job, sender=tw.parts[0])
    tw.net.time_travel(601)
    tw.market.abandon(tw.job, sender=tw.parts[0])
    assert tw.market.claim(tw.job, sender=tw.sponsor) == BOUNTY + CSTAKE
    for p in tw.parts:
        assert tw.market.claim(tw.job, sender=p) == STAKE  # honest participants never lose their stake
    assert tw.market.owed(tw.job, tw.coord.address) == 0
    assert tw.token.balance_of(tw.market.address) == 0


def test_unfilled_job_is_cancelled_and_refunded(tw: TW) -> None:
    tw.market.join(tw.job, sender=tw.parts[0])
    with pytest.raises(ContractReverted, match="too few participants"):
        tw.market.start(tw.job, sender=tw.coord)
    with pytest.raises(ContractReverted, match="only the sponsor"):
        tw.market.cancel(tw.job, sender=tw.parts[1])
    tw.net.time_travel(601)
    with pytest.raises(ContractReverted, match="join window closed"):
        tw.market.join(tw.job, sender=tw.parts[1])
    tw.market.cancel(tw.job, sender=tw.parts[1])
    assert tw.market.claim(tw.job, sender=tw.sponsor) == BOUNTY
    assert tw.market.claim(tw.job, sender=tw.parts[0]) == STAKE


def test_nobody_scored_refunds_the_pool(tw: TW) -> None:
    _running(tw)
    tw.post(1, tw.parts, [0] * 5)
    tw.post(2, tw.parts, [0] * 5)
    m = split_bounty(BOUNTY, 1000, {p.address: 0 for p in tw.parts})
    assert tw.market.claim(tw.job, sender=tw.sponsor) == m.sponsor_refund
    assert tw.market.claim(tw.job, sender=tw.coord) == m.coordinator_fee + CSTAKE


def test_forged_attribution_is_refused(tw: TW) -> None:
    """The coordinator credits a participant with an update that participant never signed (it signs it
    itself, e.g. to move the score of one client's good update to a sybil, or blame one for poison). Seen
    accepted on the unsigned contract (be15cfa); now post_round recovers every signature and reverts."""
    ps = _running(tw)
    victim = ps[0]
    with pytest.raises(ContractReverted, match="signature is not the participant's"):
        tw.post(1, tw.parts, [1] * 5, signers={victim: tw.coord})
    # a genuine signature moved to another round or another update hash does not recover either
    hs, sigs, _ = tw.signed(1, ps)
    hs2 = [keccak(text="another update"), *hs[1:]]
    root2 = merkle_root([leaf(p, h) for p, h in zip(ps, hs2, strict=True)])
    with pytest.raises(ContractReverted, match="signature is not the participant's"):
        tw.market.post_round(tw.job, 1, keccak(text="m"), root2, ps, [1] * 5, hs2, sigs, sender=tw.coord)
    # a root that is not over the signed updates is refused too
    with pytest.raises(ContractReverted, match="updates_root is not the root"):
        tw.market.post_round(tw.job, 1, keccak(text="m"), root2, ps, [1] * 5, hs, sigs, sender=tw.coord)
    rcpt, _ = tw.post(1, tw.parts, [1] * 5)  # everyone's own signatures: accepted
    print(f"post_round gas with 5 signed updates (round 1): {rcpt.gas_used}")
    assert tw.market.domain_separator() == tw.domain.typed(1, hs[0]).domain_separator()
