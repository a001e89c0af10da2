"""Gas of each DataRegistry call (and ModelRegistry.set_data_lineage) on the embedded py-evm chain,
as a markdown table for docs/data-market.md. Run: ``PYTHONPATH=src .venv/bin/python bench/data_gas.py``.

One fixed scenario so numbers are comparable between commits: 3 contributors (then 16 for the
largest sale split), versions of 10 and 256 records.
"""

from __future__ import annotations

from eth_utils import keccak

from veilproof.chain import Network, connect
from veilproof.chain.data_registry import USE_TRAINING, DataRegistry, record_proof
from veilproof.chain.deploy import SuiteParams, deploy_data_market, deploy_suite
from veilproof.chain.suite import Suite

ONE = 10**18


def _gas_of_block(net: Network, block: int | str) -> int:
    """Gas of the (only) transaction in ``block``: for calls whose facade returns an id, not a receipt."""
    tx = net.w3.eth.get_block(block)["transactions"][0]  # type: ignore[arg-type]
    return int(net.w3.eth.get_transaction_receipt(tx)["gasUsed"])  # type: ignore[arg-type]


def main() -> None:
    net = connect("embedded")
    owner, curator, host, buyer, *subjects = net.new_accounts(20)
    d = deploy_suite(net, owner, SuiteParams.dev())
    before = net.w3.eth.block_number
    deploy_data_market(net, owner, d, 3600)
    suite = Suite.attach(net, d)
    reg: DataRegistry = suite.data
    rows: list[tuple[str, int, str]] = []
    rows.append(("deploy DataRegistry", _gas_of_block(net, before + 1), "17.3 KB runtime"))

    def last_gas() -> int:
        """Gas of the latest block's transaction (the facade returned an id, not the receipt)."""
        return _gas_of_block(net, "latest")

    def rec(label: str, rcpt: object, note: str = "") -> None:
        rows.append((label, int(rcpt.gas_used), note))  # type: ignore[attr-defined]

    ds = reg.publish(
        keccak(b"s"), 3, 10 * ONE, net.now() + 86400 * 90, 1000, host.address, "ipfs://x", sender=curator
    )
    rows.append(("publish", last_gas(), ""))
    exp = net.now() + 86400 * 60
    n = 0

    def consents(subject_list: list, k: int) -> list:
        nonlocal n
        out = []
        for s in subject_list:
            for _ in range(k):
                n += 1
                c = reg.consent(s.address, ds, keccak(f"r{n}".encode()), 3, exp, n)
                out.append(reg.sign_consent(c, s))
        return out

    one = consents(subjects[:1], 1)
    rec("register_records (1 consent)", reg.register_records(ds, one, sender=curator)[0])
    batch = consents(subjects[:3], 21) + consents(subjects[:1], 1)  # 64
    r64 = reg.register_records(ds, batch, sender=curator)[0]
    rec("register_records (64 consents)", r64, f"{r64.gas_used // 64:,} per consent")
    recs10 = [s.consent.record_hash for s in batch[:10]]
    v10 = reg.commit_version(ds, 0, recs10, sender=curator)
    rcpt10 = _gas_of_block(net, "latest")
    rows.append(("commit_version (10 records, 1 contributor)", rcpt10, ""))
    more = consents(subjects[:3], 64)
    reg.register_records(ds, more, sender=curator)
    recs256 = [s.consent.record_hash for s in (batch + more)][:256]
    reg.commit_version(ds, v10, recs256, sender=curator)
    rcpt256 = _gas_of_block(net, "latest")
    g256 = rcpt256
    rows.append(("commit_version (256 records, 3 contributors)", g256, f"{g256 // 256:,} per record"))
    gone = recs10[0]
    rec("revoke", reg.revoke(ds, gone, sender=subjects[0]))
    rec("cancel_consents", reg.cancel_consents(10**6, sender=net.new_accounts(1)[0]))
    rec(
        "flag_revoked (10-record version)",
        reg.flag_revoked(v10, gone, record_proof(recs10, gone), sender=buyer),
    )
    suite.token.mint(buyer.address, 1000 * ONE, sender=owner)
    suite.token.approve(reg.address, 2**256 - 1, sender=buyer)
    v3 = reg.commit_version(ds, v10, recs256[1:], sender=curator)
    sale = reg.buy(v3, USE_TRAINING, keccak(b"algo"), sender=buyer)
    buy_rcpt = _gas_of_block(net, "latest")
    rows.append(("buy (escrow one use)", buy_rcpt, ""))
    rec("deliver (3 contributors)", reg.deliver(sale, keccak(b"res"), sender=host))
    rec("post_scores (3 contributors)", reg.post_scores(v3, [5, 3, 1], sender=owner))
    sale2 = reg.buy(v3, USE_TRAINING, keccak(b"algo"), sender=buyer)
    net.time_travel(3601)
    rec("refund (after the window)", reg.refund(sale2, sender=buyer))
    rec("withdraw", reg.withdraw(sender=subjects[0]))
    # 16 contributors: the largest split a sale pays
    big = consents(subjects[:16], 2)
    reg.register_records(ds, big, sender=curator)
    v16 = reg.commit_version(ds, 0, [s.consent.record_hash for s in big], sender=curator)
    s16 = reg.buy(v16, USE_TRAINING, keccak(b"algo"), sender=buyer)
    rec("deliver (16 contributors)", reg.deliver(s16, keccak(b"res"), sender=host))
    mid = suite.models.registered_model_id(
        suite.models.register_model("m", 0, 0, keccak(b"onnx"), [], [], keccak(b"algo"), sender=buyer)
    )
    rec("ModelRegistry.set_data_lineage", suite.models.set_data_lineage(mid, reg.address, sale, sender=buyer))
    print("| call | gas | note |\n|---|---:|---|")
    for label, gas, note in rows:
        print(f"| {label} | {gas:,} | {note} |")


if __name__ == "__main__":
    main()
