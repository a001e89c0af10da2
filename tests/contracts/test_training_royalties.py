"""TrainingRoyalties (issue #16): a federated model's royalties flow back to its trainers by score.

Real contracts end to end: a finished TrainingMarket job (signed updates, scores 5/3/2 for three honest
participants, 0 for a free-rider and a poisoner), the model handed to the job's splitter, paid FHE
inferences settled by JobMarket (royalty credited to the model owner = the splitter), then claims."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from market_world import PRICE, ROYALTY_BPS, World
from market_world import reverts as revert_with

from veilproof.chain.token import Token
from veilproof.chain.training_market import (
    TrainingMarket,
    deploy_training_market,
    deploy_training_royalties,
)
from veilproof.errors import ContractReverted
from veilproof.fl.commit import leaf, merkle_root
from veilproof.fl.sign import UpdateDomain

ROYALTY = PRICE * ROYALTY_BPS // 10_000  # the suite's dev fee is 0
SCORES = [5, 3, 2, 0, 0]  # honest x3, free-rider, poisoner (in address order)


def _finished_job(w: World) -> tuple[TrainingMarket, int, list[LocalAccount]]:
    token = Token(w.net, w.token.address)
    tm = deploy_training_market(w.net, w.owner, w.token.address)
    sponsor, coord, *parts = w.net.new_accounts(7)
    parts.sort(key=lambda a: int(a.address, 16))
    for who in (sponsor, coord, *parts):
        token.mint(who.address, 100 * PRICE, sender=w.owner)
        token.approve(tm.address, 100 * PRICE, sender=who)
    job = tm.open_job(
        coordinator=coord.address, arch_hash=b"\1" * 32, val_hash=b"\2" * 32, rounds=1, min_participants=3,
        coordinator_bps=1000, bounty=10 * PRICE, participant_stake=PRICE, coordinator_stake=PRICE, sender=sponsor,
    )  # fmt: skip
    for p in parts:
        tm.join(job, sender=p)
    tm.start(job, sender=coord)
    dom = UpdateDomain(w.net.chain_id, tm.address, job)
    ps = [str(p.address) for p in parts]
    hs = [bytes([i + 1]) * 32 for i in range(5)]
    sigs = [dom.sign(p, 1, h) for p, h in zip(parts, hs, strict=True)]
    root = merkle_root([leaf(p, h) for p, h in zip(ps, hs, strict=True)])
    tm.post_round(job, 1, b"\3" * 32, root, ps, SCORES, hs, sigs, sender=coord)
    return tm, job, parts


def _paid_inference(w: World) -> None:
    jid = w.open_job()
    w.submit_fhe(jid)
    w.tx(w.market.functions.accept(jid), w.client)


def test_paid_inferences_credit_the_trainers_by_score_and_zero_scorers_get_nothing(w: World) -> None:
    tm, job, parts = _finished_job(w)
    split = deploy_training_royalties(w.net, w.owner, w.token.address, w.market.address, tm.address, job)
    w.tx(w.models.functions.transfer_model(w.model_id, split.address), w.author)
    _paid_inference(w)
    _paid_inference(w)
    assert w.pending(split.address) == 2 * ROYALTY
    paid = [split.claim(sender=p) if s else 0 for p, s in zip(parts, SCORES, strict=True)]
    assert paid[:3] == [2 * ROYALTY * s // 10 for s in SCORES[:3]]
    for p in parts[3:]:  # free-rider and poisoner: score 0, nothing to claim
        assert split.owed(p.address) == 0
        with pytest.raises(ContractReverted, match="nothing owed"):
            split.claim(sender=p)
    with pytest.raises(ContractReverted, match="nothing owed"):
        split.claim(sender=parts[0])  # no double claim
    with pytest.raises(ContractReverted, match="nothing owed"):
        split.claim(sender=w.other)  # an outsider
    # a later inference: the early claimers get only the new part, tokens are conserved
    _paid_inference(w)
    sweep = split.sweep(sender=w.other).gas_used  # pulls the third royalty out of JobMarket
    c = w.net.contract("TrainingRoyalties", split.address)
    claim_gas = w.tx(c.functions.claim(), parts[1]).gas_used  # JobMarket already swept
    more = [split.claim(sender=parts[0]), 3 * ROYALTY * 3 // 10 - paid[1]]
    assert more[0] == 3 * ROYALTY * 5 // 10 - paid[0]
    assert w.bal(parts[1].address) - 100 * PRICE + PRICE == paid[1] + more[1]  # minted - stake + royalties
    left = sum(split.owed(p.address) for p in parts)
    assert sum(paid) + sum(more) + w.bal(split.address) == 3 * ROYALTY  # conserved
    assert w.bal(split.address) - left < len(parts)  # only rounding dust is never claimable
    print(f"royalties: claimed {paid[:3]} + {more}; gas: sweep {sweep}, claim {claim_gas}")


def test_splitter_needs_a_finished_job_with_scores(w: World) -> None:
    tm = deploy_training_market(w.net, w.owner, w.token.address)
    with revert_with("job not finished"):
        deploy_training_royalties(w.net, w.owner, w.token.address, w.market.address, tm.address, 1)
