"""Issue #15: every paid inference of a model trained on consented data pays the data's contributors
a royalty: JobMarket credits one aggregate per settle to the model's data sale, the DataRegistry
collects it and splits it like the sale (curator's share, contributors by weight), pulled as usual.

The attack the test closes: a model owner trains on contributors' data, names the lineage, and keeps
every inference royalty for himself (before: the whole royalty went to the owner)."""

from __future__ import annotations

import pytest
from data_world import DataWorld
from eth_utils import keccak
from market_world import ONE, PRICE, ROYALTY_BPS, WINDOW, World

from veilproof.chain.data_registry import USE_TRAINING, deploy_data_registry
from veilproof.chain.job_market import JobMarket
from veilproof.chain.model_registry import ModelRegistry
from veilproof.chain.token import Token
from veilproof.errors import ContractReverted

DATA_BPS = 4000  # 40% of the owner's royalty to the data


def _settle_job(w: World, model_id: int) -> int:
    """One paid FHE inference of ``model_id``, settled; returns the settle's gas."""
    jid = w.open_job(model_id=model_id)
    w.submit_fhe(jid)
    w.net.time_travel(WINDOW)
    w.tx(w.market.functions.finalize(jid), w.other)
    return w.gas["finalize"][-1]


def _data_world(w: World) -> DataWorld:
    curator, host, *subjects = w.net.new_accounts(5)
    token = Token(w.net, w.token.address)
    reg = deploy_data_registry(w.net, w.owner, token.address, WINDOW)
    dw = DataWorld(w.net, token, reg, w.owner, curator, host, w.author, subjects)
    dw.dataset_id = dw.publish(curator_bps=1000)
    return dw


def test_each_paid_inference_pays_the_training_datas_contributors(w: World) -> None:
    dw = _data_world(w)
    reg, mk = dw.reg, JobMarket(w.net, w.market.address)
    models = ModelRegistry(w.net, w.models.address)
    with pytest.raises(ContractReverted, match="not curator"):
        reg.set_royalty(dw.dataset_id, DATA_BPS, sender=w.author)
    with pytest.raises(ContractReverted, match="royalty above 100%"):
        reg.set_royalty(dw.dataset_id, 10_001, sender=dw.curator)
    reg.set_royalty(dw.dataset_id, DATA_BPS, sender=dw.curator)
    vid = reg.commit_version(dw.dataset_id, 0, dw.contribute([3, 1, 0]), sender=dw.curator)
    w.mint(w.author, 100 * ONE)
    dw.token.approve(reg.address, 2**256 - 1, sender=w.author)
    sale = reg.buy(vid, USE_TRAINING, keccak(b"algo"), sender=w.author)
    reg.deliver(sale, keccak(b"trained"), sender=dw.host)
    subj = [s.address for s in dw.subjects[:2]]
    after_sale = [reg.pending(a) for a in subj]

    # the model trained on the sale (and, to compare the settle gas, one with no data lineage)
    plain = w.register_model(name="plain")
    trained = w.register_model(name="trained")
    w.tx(w.nodes.functions.set_models([w.model_id, plain, trained]), w.node)
    models.set_data_lineage(trained, reg.address, sale, sender=w.author)
    assert models.data_royalty_bps(trained) == DATA_BPS
    reg.set_royalty(dw.dataset_id, 0, sender=dw.curator)  # fixed at lineage: a later change does not move it
    assert models.data_royalty_bps(trained) == DATA_BPS

    _settle_job(w, plain)  # the first settle warms the node's, owner's and treasury's pending slots
    gas_plain = _settle_job(w, plain)
    owner0 = w.pending(w.author)
    gas_first = _settle_job(w, trained)
    gas_next = _settle_job(w, trained)
    royalty = PRICE * ROYALTY_BPS // 10_000  # fee_bps is 0 in the test suite
    data_cut = royalty * DATA_BPS // 10_000
    assert w.pending(w.author) - owner0 == 2 * (royalty - data_cut)  # the owner keeps the rest
    assert mk.data_owed(reg.address, sale) == 2 * data_cut
    with pytest.raises(ContractReverted, match="sale not delivered"):
        reg.collect_royalty(mk.address, sale + 1, sender=w.other)

    # tokens conserved: the market holds its escrow, every pending balance and the data royalty owed
    actors = [w.owner, w.client, w.author, w.node, w.other, w.arbiter]
    assert dw.token.balance_of(mk.address) == mk.escrowed() + sum(w.pending(a) for a in actors) + 2 * data_cut
    # anyone collects; the split follows the sale's weights (3 records : 1 record, curator 10%)
    held = dw.token.balance_of(mk.address)
    reg.collect_royalty(mk.address, sale, sender=w.other)
    assert mk.data_owed(reg.address, sale) == 0
    assert dw.token.balance_of(mk.address) == held - 2 * data_cut
    pool = 2 * data_cut - 2 * data_cut * 1000 // 10_000
    got = [reg.pending(a) - b for a, b in zip(subj, after_sale, strict=True)]
    assert got == [pool * 3 // 4, pool * 1 // 4]
    with pytest.raises(ContractReverted, match="no royalty owed"):
        reg.collect_royalty(mk.address, sale, sender=w.other)
    reg_actors = [dw.curator, dw.host, w.author, *dw.subjects]
    assert dw.token.balance_of(reg.address) == reg.escrowed() + sum(
        reg.pending(a.address) for a in reg_actors
    )
    # contributors pull their royalty like sale earnings
    b0, owed = dw.token.balance_of(subj[0]), reg.pending(subj[0])
    assert owed == after_sale[0] + got[0]
    reg.withdraw(sender=dw.subjects[0])
    assert dw.token.balance_of(subj[0]) - b0 == owed and reg.pending(subj[0]) == 0
    print(f"\nfinalize gas: no lineage {gas_plain}, lineage first {gas_first}, lineage next {gas_next}")
