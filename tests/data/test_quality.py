"""Measured quality (issue #15): the data host scores a version's contributors by exact Shapley value
(held-out log-loss on the scorer's held-out set); the scores go on chain and split the next sales. A
contributor who copies other people's rows, or adds rows with wrong labels, scores <= 0 and is paid
nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_market import PRICE, Market
from eth_utils import keccak

from veilproof.chain import Network, connect
from veilproof.chain.data_registry import USE_TRAINING
from veilproof.data.algorithms import LogisticRegressionJob
from veilproof.data.records import Record
from veilproof.errors import DataReverted

pytestmark = pytest.mark.slow


def test_copier_and_noise_score_at_most_zero_and_are_not_paid(net: Network, tmp_path: Path) -> None:
    if net.backend.kind == "embedded":
        # a chain of its own: on the session's embedded chain, after ~180 other tests, this test ran for
        # ten minutes and failed in the full suite (5 s alone and after the DAO and data tests; cause not
        # yet found)
        net = connect()
    m = Market.build(net, tmp_path / "store", n_contributors=5)
    reg = m.suite.data
    honest = [recs[:60] for recs in m.split.contributions[:3]]
    rng = np.random.default_rng(7)
    # the copier re-submits 40 of the first contributor's rows under fresh salts (new record hashes)
    copier = [Record.new(np.array(r.features), r.label) for r in honest[0][:40]]
    # the noiser submits plausible-looking rows with the wrong label
    src = m.split.contributions[0][60:120]
    noiser = [
        Record.new(np.array(r.features) * rng.uniform(0.9, 1.1, len(r.features)), 1 - r.label) for r in src
    ]
    hashes = m.contribute([*honest, copier, noiser])
    vid = reg.commit_version(m.dataset_id, 0, hashes, sender=m.curator)
    m.host.add_version(vid, hashes)

    scores = m.host.quality_scores(vid, m.split.held_out_x, m.split.held_out_y)
    by = dict(zip(reg.contributors(vid).subjects, scores, strict=True))
    cheat_copy, cheat_noise = by[m.subjects[3].address], by[m.subjects[4].address]
    print(f"\nShapley scores (bp of held-out log-loss): {[by[s.address] for s in m.subjects]}")
    assert cheat_copy <= 0 and cheat_noise <= 0
    assert sum(by[s.address] for s in m.subjects[:3]) > 0

    validator = net.new_accounts(1)[0]
    with pytest.raises(DataReverted, match="not owner"):
        reg.set_scorer(validator.address, sender=m.curator)
    reg.set_scorer(validator.address, sender=m.owner)
    reg.post_scores(vid, scores, sender=validator)
    m.suite.token.approve(reg.address, PRICE, sender=m.buyer)
    sale = reg.buy(vid, USE_TRAINING, LogisticRegressionJob().algo_hash, sender=m.buyer)
    reg.deliver(sale, keccak(b"result"), sender=m.host_acct)
    paid = [reg.pending(s.address) for s in m.subjects]
    assert paid[3] == 0 and paid[4] == 0
    pool = PRICE - PRICE // 10
    total = sum(max(x, 0) for x in scores)
    assert paid[:3] == [pool * max(by[s.address], 0) // total for s in m.subjects[:3]]
    assert reg.pending(m.curator.address) == PRICE - sum(paid)
