"""DataRegistry (issue #15): per-record EIP-712 consent checked on chain, revocation by the subject,
versions that cannot contain a revoked record, sales escrowed and split pro rata, pulled.

Each attack is the attacker's real move against the deployed contract: a curator forging, replaying
or stretching consents, re-publishing a revoked record, a stranger recording results."""

from __future__ import annotations

import pytest
from data_world import ONE, PRICE, USES, WINDOW, DataWorld, record
from eth_utils import keccak

from veilproof.chain import Network
from veilproof.chain.data_registry import (
    SALE_DELIVERED,
    SALE_REFUNDED,
    USE_INFERENCE,
    USE_TRAINING,
    consent_leaf,
    deploy_data_registry,
    merkle_root,
    record_proof,
    sorted_records,
    version_root,
)
from veilproof.errors import (
    ConsentExpired,
    ConsentForged,
    ConsentReplayed,
    ConsentRevoked,
    ConsentScope,
    ConsentWrongDataset,
    ContractReverted,
    DataReverted,
    RecordRevoked,
    VersionTainted,
)

ALGO = keccak(b"sklearn-logreg-v1")


@pytest.fixture
def dw(net: Network) -> DataWorld:
    return DataWorld.build(net)


def test_version_roots_are_computed_on_chain_and_mirrored(dw: DataWorld) -> None:
    recs = dw.contribute([3, 2, 1])
    vid = dw.reg.commit_version(dw.dataset_id, 0, recs, sender=dw.curator)
    v = dw.reg.read_version(vid)
    assert (v.dataset_id, v.parent, v.record_count, v.revoked_count) == (dw.dataset_id, 0, 6, 0)
    assert v.record_root == version_root(recs).hex()
    leaves = []
    for r in sorted_records(recs):
        rec = dw.reg.read_record(dw.dataset_id, r)
        leaves.append(consent_leaf(r, rec.subject, rec.allowed_uses, rec.expiry))
    assert v.consent_root == merkle_root(leaves).hex()
    c = dw.reg.contributors(vid)
    assert dict(zip(c.subjects, c.counts, strict=True)) == {
        s.address: n for s, n in zip(dw.subjects, [3, 2, 1], strict=False)
    }
    assert c.weights == c.counts


def test_forged_consent_is_rejected(dw: DataWorld) -> None:
    a, b, _ = dw.subjects
    rec = record(a.address, 0)
    # the curator signs a consent "by a" with b's key
    c = dw.reg.consent(a.address, dw.dataset_id, rec, USES, dw.net.now() + 86400, 1)
    forged = type(dw.sign(a, rec))(c, c.typed(dw.net.chain_id, dw.reg.address).sign(b))
    with pytest.raises(ConsentForged):
        dw.reg.register_records(dw.dataset_id, [forged], sender=dw.curator)
    # a genuine consent for evaluation only, stretched by the curator to training too
    narrow = dw.sign(a, rec, uses=USE_TRAINING)
    stretched = type(narrow)(
        dw.reg.consent(a.address, dw.dataset_id, rec, USES, narrow.consent.expiry, narrow.consent.nonce),
        narrow.signature,
    )
    with pytest.raises(ConsentForged):
        dw.reg.register_records(dw.dataset_id, [stretched], sender=dw.curator)
    assert not dw.reg.read_record(dw.dataset_id, rec).registered


def test_expired_consent_is_rejected(dw: DataWorld) -> None:
    a = dw.subjects[0]
    with pytest.raises(ConsentExpired):
        dw.reg.register_records(
            dw.dataset_id, [dw.sign(a, record(a.address, 0), expiry=dw.net.now() - 1)], sender=dw.curator
        )


def test_consent_replayed_on_another_dataset_or_twice_is_rejected(dw: DataWorld) -> None:
    a = dw.subjects[0]
    rec = record(a.address, 0)
    signed = dw.sign(a, rec)
    other = dw.publish()
    with pytest.raises(ConsentWrongDataset):  # the same signed consent, presented for dataset 2
        dw.reg.register_records(other, [signed], sender=dw.curator)
    moved = type(signed)(
        dw.reg.consent(a.address, other, rec, USES, signed.consent.expiry, signed.consent.nonce),
        signed.signature,
    )
    with pytest.raises(ConsentForged):  # ... or with its dataset field rewritten
        dw.reg.register_records(other, [moved], sender=dw.curator)
    dw.reg.register_records(dw.dataset_id, [signed], sender=dw.curator)
    with pytest.raises(ConsentReplayed):
        dw.reg.register_records(dw.dataset_id, [signed], sender=dw.curator)


def test_revoked_or_cancelled_consent_cannot_be_registered(dw: DataWorld) -> None:
    a, b, _ = dw.subjects
    rec = record(a.address, 0)
    signed = dw.sign(a, rec)
    dw.reg.revoke(dw.dataset_id, rec, sender=a)  # the subject revokes before the curator uses it
    with pytest.raises(ConsentRevoked):
        dw.reg.register_records(dw.dataset_id, [signed], sender=dw.curator)
    rec_b = record(b.address, 0)
    old = dw.sign(b, rec_b, nonce=5)
    dw.reg.cancel_consents(6, sender=b)
    with pytest.raises(ConsentRevoked):
        dw.reg.register_records(dw.dataset_id, [old], sender=dw.curator)
    dw.reg.register_records(dw.dataset_id, [dw.sign(b, rec_b, nonce=6)], sender=dw.curator)


def test_consent_narrower_than_the_policy_is_rejected(dw: DataWorld) -> None:
    a = dw.subjects[0]
    with pytest.raises(ConsentScope):
        dw.reg.register_records(
            dw.dataset_id, [dw.sign(a, record(a.address, 0), uses=USE_TRAINING)], sender=dw.curator
        )


def test_only_the_curator_registers_and_commits(dw: DataWorld) -> None:
    a = dw.subjects[0]
    with pytest.raises(DataReverted, match="not curator"):
        dw.reg.register_records(dw.dataset_id, [dw.sign(a, record(a.address, 0))], sender=a)


def test_a_new_version_cannot_contain_a_revoked_record(dw: DataWorld) -> None:
    recs = dw.contribute([3, 2, 1])
    a = dw.subjects[0]
    v1 = dw.reg.commit_version(dw.dataset_id, 0, recs, sender=dw.curator)
    gone = dw.records[a.address][1]
    # the curator cannot revoke on a subject's behalf: its "revoke" names itself, not a
    dw.reg.revoke(dw.dataset_id, gone, sender=dw.curator)
    assert not dw.reg.read_record(dw.dataset_id, gone).revoked
    dw.reg.revoke(dw.dataset_id, gone, sender=a)
    assert dw.reg.read_record(dw.dataset_id, gone).revoked
    with pytest.raises(RecordRevoked):  # the curator tries to keep it in the next version
        dw.reg.commit_version(dw.dataset_id, v1, recs, sender=dw.curator)
    kept = [r for r in recs if r != gone]
    v2 = dw.reg.commit_version(dw.dataset_id, v1, kept, sender=dw.curator)
    assert dw.reg.read_version(v2).parent == v1
    assert dw.reg.read_version(v2).record_root == version_root(kept).hex()
    assert (
        dict(zip(*[dw.reg.contributors(v2).subjects, dw.reg.contributors(v2).counts], strict=True))[a.address]
        == 2
    )
    # the old version still holds the record: anyone proves it and v1 stops selling
    dw.reg.buy(v1, USE_TRAINING, ALGO, sender=dw.buyer)
    with pytest.raises(DataReverted, match="bad proof"):
        dw.reg.flag_revoked(v1, gone, record_proof(kept, kept[0]), sender=dw.buyer)
    with pytest.raises(DataReverted, match="record not revoked"):
        dw.reg.flag_revoked(v1, recs[0], record_proof(recs, recs[0]), sender=dw.buyer)
    dw.reg.flag_revoked(v1, gone, record_proof(recs, gone), sender=dw.buyer)
    assert dw.reg.read_version(v1).tainted
    with pytest.raises(DataReverted, match="already flagged"):
        dw.reg.flag_revoked(v1, gone, record_proof(recs, gone), sender=dw.buyer)
    with pytest.raises(VersionTainted):
        dw.reg.buy(v1, USE_TRAINING, ALGO, sender=dw.buyer)
    with pytest.raises(VersionTainted):  # nor can the open sale of v1 be delivered (the buyer refunds)
        dw.reg.deliver(1, keccak(b"result"), sender=dw.host)
    dw.reg.buy(v2, USE_TRAINING, ALGO, sender=dw.buyer)


def test_version_records_must_be_registered_sorted_and_consented(dw: DataWorld) -> None:
    recs = dw.contribute([2, 1, 1])
    with pytest.raises(DataReverted, match="unknown record"):
        dw.reg.commit_version(dw.dataset_id, 0, [*recs, keccak(b"never consented")], sender=dw.curator)
    with pytest.raises(ContractReverted, match="records not sorted"):  # raw call: the facade sorts
        dw.reg._send(
            "commit_version", dw.dataset_id, 0, list(reversed(sorted_records(recs))), sender=dw.curator
        )
    dw.net.time_travel(11 * 86400)  # past the consents' expiry
    with pytest.raises(ConsentExpired):
        dw.reg.commit_version(dw.dataset_id, 0, recs, sender=dw.curator)


def test_sale_is_split_pro_rata_and_tokens_are_conserved(dw: DataWorld) -> None:
    recs = dw.contribute([3, 2, 1])
    vid = dw.reg.commit_version(dw.dataset_id, 0, recs, sender=dw.curator)
    with pytest.raises(DataReverted, match="use not allowed"):
        dw.reg.buy(vid, USE_INFERENCE, ALGO, sender=dw.buyer)
    sale = dw.reg.buy(vid, USE_TRAINING, ALGO, sender=dw.buyer)
    assert dw.token.balance_of(dw.reg.address) == PRICE == dw.reg.escrowed()
    with pytest.raises(DataReverted, match="not data host"):  # a stranger (the curator) records a result
        dw.reg.deliver(sale, keccak(b"result"), sender=dw.curator)
    with pytest.raises(DataReverted, match="window open"):
        dw.reg.refund(sale, sender=dw.buyer)
    dw.reg.deliver(sale, keccak(b"result"), sender=dw.host)
    s = dw.reg.read_sale(sale)
    assert (s.state, s.result_hash, s.algo_hash) == (SALE_DELIVERED, keccak(b"result").hex(), ALGO.hex())
    pool = PRICE - PRICE // 10
    a, b, c = (dw.reg.pending(x.address) for x in dw.subjects)
    assert (a, b, c) == (pool * 3 // 6, pool * 2 // 6, pool * 1 // 6)
    assert dw.reg.pending(dw.curator.address) == PRICE - a - b - c
    assert dw.held() == dw.token.balance_of(dw.reg.address) == PRICE
    dw.reg.withdraw(sender=dw.subjects[0])
    assert dw.token.balance_of(dw.subjects[0].address) == a
    assert dw.held() == dw.token.balance_of(dw.reg.address) == PRICE - a
    with pytest.raises(DataReverted, match="nothing to withdraw"):
        dw.reg.withdraw(sender=dw.subjects[0])


def test_undelivered_sale_is_refunded_after_the_window(dw: DataWorld) -> None:
    vid = dw.reg.commit_version(dw.dataset_id, 0, dw.contribute([1, 1, 1]), sender=dw.curator)
    sale = dw.reg.buy(vid, USE_TRAINING, ALGO, sender=dw.buyer)
    dw.net.time_travel(WINDOW + 1)
    with pytest.raises(DataReverted, match="not buyer"):
        dw.reg.refund(sale, sender=dw.curator)
    dw.reg.refund(sale, sender=dw.buyer)
    assert dw.reg.read_sale(sale).state == SALE_REFUNDED
    with pytest.raises(DataReverted, match="sale not open"):
        dw.reg.deliver(sale, keccak(b"late"), sender=dw.host)
    before = dw.token.balance_of(dw.buyer.address)
    dw.reg.withdraw(sender=dw.buyer)
    assert dw.token.balance_of(dw.buyer.address) == before + PRICE
    assert dw.token.balance_of(dw.reg.address) == 0 == dw.held()


def test_posted_scores_split_later_sales(dw: DataWorld) -> None:
    vid = dw.reg.commit_version(dw.dataset_id, 0, dw.contribute([1, 1, 2]), sender=dw.curator)
    with pytest.raises(DataReverted, match="not scorer"):
        dw.reg.post_scores(vid, [1, 1, 1], sender=dw.curator)
    with pytest.raises(DataReverted, match="score count mismatch"):
        dw.reg.post_scores(vid, [1, 1], sender=dw.owner)
    want = {dw.subjects[0].address: 30, dw.subjects[1].address: 10, dw.subjects[2].address: -5}
    order = dw.reg.contributors(vid).subjects  # first appearance in the sorted record list
    dw.reg.post_scores(vid, [want[s] for s in order], sender=dw.owner)  # the third added noise
    assert dw.reg.contributors(vid).weights == [max(want[s], 0) for s in order]
    dw.reg.deliver(dw.reg.buy(vid, USE_TRAINING, ALGO, sender=dw.buyer), keccak(b"r"), sender=dw.host)
    pool = PRICE - PRICE // 10
    assert [dw.reg.pending(s.address) for s in dw.subjects] == [pool * 30 // 40, pool * 10 // 40, 0]
    assert dw.held() == dw.token.balance_of(dw.reg.address) == PRICE
    assert dw.token.balance_of(dw.reg.address) == 10 * ONE


def test_model_lineage_turns_tainted_when_its_version_holds_a_revoked_record(dw: DataWorld) -> None:
    from veilproof.chain.model_registry import ModelRegistry
    from veilproof.data.lineage import LineageStatus, lineage_status

    models = ModelRegistry(dw.net, dw.net.deploy("ModelRegistry", sender=dw.owner).address)
    recs = dw.contribute([2, 1, 1])
    vid = dw.reg.commit_version(dw.dataset_id, 0, recs, sender=dw.curator)
    sale = dw.reg.buy(vid, USE_TRAINING, ALGO, sender=dw.buyer)
    with pytest.raises(ContractReverted, match="sale not delivered"):
        mid0 = models.registered_model_id(
            models.register_model("early", 0, 0, keccak(b"m0"), [], [], ALGO, sender=dw.buyer)
        )
        models.set_data_lineage(mid0, dw.reg.address, sale, sender=dw.buyer)
    dw.reg.deliver(sale, keccak(b"model"), sender=dw.host)
    mid = models.registered_model_id(
        models.register_model("m", 0, 0, keccak(b"m"), [], [], ALGO, sender=dw.buyer)
    )
    assert lineage_status(models, dw.reg, mid) is LineageStatus.NONE
    models.set_data_lineage(mid, dw.reg.address, sale, sender=dw.buyer)
    assert lineage_status(models, dw.reg, mid) is LineageStatus.CURRENT
    a = dw.subjects[0]
    gone = dw.records[a.address][0]
    dw.reg.revoke(dw.dataset_id, gone, sender=a)
    dw.reg.flag_revoked(vid, gone, record_proof(recs, gone), sender=a)
    assert lineage_status(models, dw.reg, mid) is LineageStatus.TAINTED
    other = deploy_data_registry(dw.net, dw.owner, dw.token.address, WINDOW)
    assert lineage_status(models, other, mid) is LineageStatus.FOREIGN
