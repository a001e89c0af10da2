"""A ZK market on the embedded chain with EZKL's real verifier, the test MLP published and one staked
node: the common start of the real-proof market tests (JobMarket fraud, ReceiptMarket proofs)."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

from veilproof.chain import connect
from veilproof.chain.deploy import (
    ONE_VEIL,
    ReceiptParams,
    SuiteParams,
    deploy_receipt_market,
    deploy_suite,
    deploy_zk_verifier,
)
from veilproof.chain.suite import Suite
from veilproof.client.publish import publish_model
from veilproof.zk import evm


def zk_market(mlp, price: int, slash: int, extra_accounts: int = 0, receipts: ReceiptParams | None = None,  # type: ignore[no-untyped-def]
              url: str | None = None):  # fmt: skip
    """Suite (dev params, ``slash``) + real verifier (+ ReceiptMarket with ``receipts``), the MLP
    published at ``price``, ``node`` registered for it with 1,000 VEIL staked, ``client`` holding
    100 VEIL; ``others`` are ``extra_accounts`` more funded accounts. ``url``: a chain to deploy on
    (e.g. the session's anvil); default a fresh embedded chain."""
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    net = connect(url)
    owner, node, client, *others = net.new_accounts(3 + extra_accounts)
    d = deploy_suite(net, owner, SuiteParams.dev(slash_amount=slash))
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    if receipts is not None:
        deploy_receipt_market(net, owner, d, receipts)
    s = Suite.attach(net, d)
    pub = publish_model(
        s, owner, name="mlp", price=price, onnx_hash=mlp.package.commitments()["onnx_hash"], zk=mlp.package
    )
    for acct, amount in ((node, 1000), (client, 100)):
        s.token.mint(acct.address, amount * ONE_VEIL, sender=owner)
    s.nodes.register("http://127.0.0.1:1", b"\x02" * 33, [pub.model_id], sender=node)
    s.token.approve(s.nodes.address, 1000 * ONE_VEIL, sender=node)
    s.nodes.stake(1000 * ONE_VEIL, sender=node)
    return SimpleNamespace(
        net=net, s=s, owner=owner, node=node, client=client, others=others, mid=pub.model_id
    )
