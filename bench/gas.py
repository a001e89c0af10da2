"""Gas used by each state-changing call of the core contracts, written to docs/gas.md.

Why a script and not a test: the table goes into the issue note and the docs, and should come from
one fixed scenario (embedded py-evm, cancun rules) so numbers are comparable between commits.
Run: ``.venv/bin/python bench/gas.py [--out docs/gas.md]``.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_account.messages import encode_defunct
from eth_utils import keccak

from veilproof.chain import Network, compile_contract, connect
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite

ROOT = Path(__file__).resolve().parents[1]
REJECTING = ROOT / "tests" / "contracts" / "fixtures" / "RejectingVerifier.vy"


def h(label: str) -> bytes:
    return keccak(label.encode())


def run(net: Network) -> list[tuple[str, str, int]]:
    """Run one scenario through every function; return (contract, function, gas) rows."""
    rows: list[tuple[str, str, int]] = []
    owner, client, author, node, arbiter = net.new_accounts(5)
    params = SuiteParams()  # the production defaults: 5% fee, 2,000 VEIL node stake, 1,000 VEIL slash
    # (the node stakes enough to stay active through the scenario's four slashes)
    d = deploy_suite(net, owner, params)
    token, models = net.contract("Token", d.token), net.contract("ModelRegistry", d.models)
    nodes, market = net.contract("NodeRegistry", d.nodes), net.contract("JobMarket", d.market)

    def tx(contract: str, fn: Any, sender: Any, label: str | None = None) -> None:
        rcpt = net.transact(fn, sender=sender)
        rows.append((contract, label or fn.fn_name, rcpt.gas_used))

    for contract in (token, models, nodes, market):
        name = {d.token: "Token", d.models: "ModelRegistry", d.nodes: "NodeRegistry", d.market: "JobMarket"}
        rows.append(
            (name[contract.address], "(runtime code size, bytes)", len(net.w3.eth.get_code(contract.address)))
        )

    tx("Token", token.functions.mint(client.address, 1000 * ONE_VEIL), owner)
    tx("Token", token.functions.mint(node.address, params.min_stake + 6 * params.slash_amount), owner)
    tx("Token", token.functions.transfer(author.address, ONE_VEIL), client)
    tx("Token", token.functions.approve(market.address, 2**256 - 1), client)
    tx("Token", token.functions.mint(client.address, 1000 * ONE_VEIL), owner)
    tx("Token", token.functions.approve(nodes.address, 2**256 - 1), node)
    tx("Token", token.functions.burn(ONE_VEIL), author)

    tx("ModelRegistry", models.functions.register_dataset(h("root"), "ipfs://dataset"), author)
    tx(
        "ModelRegistry",
        models.functions.register_model("base", ONE_VEIL, 1000, h("onnx0"), [], [], h("code")),
        author,
        "register_model (no lineage)",
    )
    tx(
        "ModelRegistry",
        models.functions.register_model("m", 10 * ONE_VEIL, 1500, h("onnx"), [1], [1], h("code")),
        author,
        "register_model (1 parent, 1 dataset)",
    )
    tx("ModelRegistry", models.functions.set_zk_commitment(2, h("settings"), h("vk"), h("srs")), author)
    tx("ModelRegistry", models.functions.set_fhe_commitment(2, h("client"), h("server")), author)
    tx("ModelRegistry", models.functions.set_price(2, 10 * ONE_VEIL), author)

    pubkey = b"\x02" + h("pubkey")
    tx(
        "NodeRegistry",
        nodes.functions.register("http://node.example:8000", pubkey, [2]),
        node,
        "register (1 model)",
    )
    tx("NodeRegistry", nodes.functions.stake(params.min_stake + 5 * params.slash_amount), node)
    tx("NodeRegistry", nodes.functions.set_endpoint("http://node.example:9000"), node)
    tx("NodeRegistry", nodes.functions.set_models([1, 2]), node, "set_models (2 models)")

    now = net.now()
    inp = b"\x00" + h("input")[1:]
    keys, zero, cap = h("keys"), b"\x00" * 32, 10 * ONE_VEIL
    out = b"\x07" * 11_256  # the size of a Concrete ML logistic-regression output ciphertext
    out_hash = hashlib.sha256(out).digest()

    def open_fhe(deadline: int) -> None:
        fn = market.functions.open_job(2, node.address, inp, 2, deadline, keys, cap)
        tx("JobMarket", fn, client, "open_job (FHE)")

    def submit_fhe(job_id: int) -> None:
        tx("JobMarket", market.functions.start_job(job_id), node)
        fn = market.functions.submit_fhe_result(job_id, keys, inp, out_hash, h("server"))
        tx("JobMarket", fn, node)

    open_fhe(now + 3000)
    submit_fhe(1)
    tx("JobMarket", market.functions.accept(1), client)
    open_fhe(now + 3000)
    submit_fhe(2)
    net.time_travel(params.challenge_window)
    tx("JobMarket", market.functions.finalize(2), author)
    tx("JobMarket", market.functions.set_arbiter(arbiter.address), owner)
    open_fhe(net.now() + 3000)
    submit_fhe(3)
    tx("JobMarket", market.functions.dispute_fhe(3), arbiter, "dispute_fhe (refund + slash)")

    c = compile_contract(REJECTING)
    verifier = net.deploy_bytecode(c.abi, c.bytecode, sender=owner, label="RejectingVerifier")
    tx("JobMarket", market.functions.set_zk_verifier(verifier.address), owner)
    tx(
        "JobMarket",
        market.functions.open_job(2, node.address, inp, 1, net.now() + 100, zero, cap),
        client,
        "open_job (ZK)",
    )
    tx("JobMarket", market.functions.start_job(4), node)
    net.time_travel(200)
    tx("JobMarket", market.functions.refund(4), client, "refund (+ slash)")
    tx(
        "JobMarket",
        market.functions.open_job(2, node.address, inp, 1, net.now() + 3000, zero, cap),
        client,
        "open_job (ZK)",
    )
    instances = [int.from_bytes(inp, "big"), 7, 8]
    proof = bytes(range(256)) * 8  # 2 KiB, about the size of a small EZKL proof
    claim = keccak(
        encode(
            ["uint256", "address", "uint256", "bytes32", "bytes32"],
            [net.chain_id, market.address, 5, keccak(encode(["uint256[]"], [instances])), keccak(proof)],
        )
    )
    sig = node.sign_message(encode_defunct(primitive=claim)).signature
    tx(
        "JobMarket",
        market.functions.challenge_zk(5, instances, proof, sig),
        client,
        "challenge_zk (2 KiB proof, verifier rejects, slash)",
    )
    tx("JobMarket", market.functions.withdraw(), node)

    # FHE output availability: a demand answered, a demand left undelivered
    tx("JobMarket", market.functions.set_delivery_bond(ONE_VEIL), owner)
    for job_id in (6, 7):
        open_fhe(net.now() + 3000)
        submit_fhe(job_id)
        tx("JobMarket", market.functions.claim_not_delivered(job_id), client)
    tx("JobMarket", market.functions.deliver_output(6, out), node, "deliver_output (11 KiB ciphertext)")
    net.time_travel(2 * params.challenge_window)
    tx("JobMarket", market.functions.finalize(6), author, "finalize (delivered)")
    tx("JobMarket", market.functions.finalize(7), author, "finalize (undelivered: refund + slash)")

    # a node's own price (#14 compute market): the job costs the owner's royalty + the node's offer
    tx("NodeRegistry", nodes.functions.set_offer(2, ONE_VEIL), node)
    fn = market.functions.open_job(2, node.address, inp, 2, net.now() + 3000, keys, cap)
    tx("JobMarket", fn, client, "open_job (FHE, node offer)")
    submit_fhe(8)
    tx("JobMarket", market.functions.accept(8), client, "accept (node offer)")
    tx("NodeRegistry", nodes.functions.clear_offer(2), node)

    tx("NodeRegistry", nodes.functions.request_unbond(10 * ONE_VEIL), node)
    net.time_travel(params.unbond_delay)
    tx("NodeRegistry", nodes.functions.withdraw_unbonded(), node)
    tx("ModelRegistry", models.functions.transfer_model(2, client.address), author)
    tx("ModelRegistry", models.functions.retire(2), client)
    tx("Token", token.functions.approve(owner.address, ONE_VEIL), client)
    tx("Token", token.functions.transferFrom(client.address, author.address, ONE_VEIL), owner)
    tx("Token", token.functions.set_minter(owner.address), owner)
    tx("Token", token.functions.renounce_owner_minting(), owner)
    return rows + receipt_rows(net)


BATCH = 20


def receipt_rows(net: Network) -> list[tuple[str, str, int]]:
    """ReceiptMarket (pay-on-proof): deposits, settle of 1 and of BATCH receipts (first and steady
    state), and the dispute paths a fault-injecting verifier reaches (demand, resolve, challenge).
    A proof claim with a valid proof needs EZKL: ``--zk`` measures it."""
    from veilproof.chain.deploy import ReceiptParams, deploy_receipt_market
    from veilproof.chain.receipt_market import Order, ReceiptMarket

    rows: list[tuple[str, str, int]] = []
    owner, author, node, *clients = net.new_accounts(3 + BATCH)
    client = clients[0]
    d = deploy_suite(net, owner, SuiteParams())
    token, models = net.contract("Token", d.token), net.contract("ModelRegistry", d.models)
    nodes = net.contract("NodeRegistry", d.nodes)
    c = compile_contract(REJECTING)
    d.extra["zk_adapter"] = net.deploy_bytecode(
        c.abi, c.bytecode, sender=owner, label="RejectingVerifier"
    ).address
    deploy_receipt_market(net, owner, d, ReceiptParams(fee_bps=100))
    rm = ReceiptMarket(net, d.extra["receipt_market"])
    rows.append(
        ("ReceiptMarket", "(runtime code size, bytes)", len(net.w3.eth.get_code(rm.contract.address)))
    )

    def tx(fn: Any, sender: Any, label: str) -> None:
        rows.append(
            (
                "ReceiptMarket" if fn.address == rm.address else "setup",
                label,
                net.transact(fn, sender=sender).gas_used,
            )
        )

    tx(
        models.functions.register_model("m", ONE_VEIL, 1500, h("onnx"), [], [], h("code")),
        author,
        "register_model",
    )
    stake = SuiteParams().min_stake + 2 * SuiteParams().slash_amount  # production defaults
    tx(token.functions.mint(node.address, stake), owner, "mint")
    tx(token.functions.approve(nodes.address, 2**256 - 1), node, "approve")
    tx(nodes.functions.register("http://node.example:8000", b"\x02" + h("pk"), [1]), node, "register")
    tx(nodes.functions.stake(stake), node, "stake")
    for cl in clients:
        tx(token.functions.mint(cl.address, 1000 * ONE_VEIL), owner, "mint")
        tx(token.functions.approve(rm.address, 2**256 - 1), cl, "approve")
    tx(rm._fn("deposit", node.address, 500 * ONE_VEIL), client, "deposit (first)")
    tx(rm._fn("deposit", node.address, 100 * ONE_VEIL), client, "deposit (top-up)")
    for cl in clients[1:]:
        tx(rm._fn("deposit", node.address, 100 * ONE_VEIL), cl, "deposit (first, warm token balance)")

    nonce = [0]
    royalty = rm.model_royalty(1)  # the owner's amount each order binds

    def order(cl: Any, deadline: int = 600) -> Order:
        nonce[0] += 1
        commit = b"\x00" + h(f"input{nonce[0]}")[1:]
        return Order(
            cl.address, node.address, 1, commit, ONE_VEIL, net.now() + deadline, nonce[0], royalty=royalty
        )

    def settle(orders: list[Order], label: str) -> None:
        batch = [
            rm.sign_receipt(o, h("out"), o.max_price, next(c for c in clients if c.address == o.client))
            for o in orders
        ]
        tx(rm._fn("settle", rm._batch(batch)), node, label)

    settle([order(client)], "settle (1 receipt, first: cold balances)")
    settle([order(client)], "settle (1 receipt)")
    settle([order(client) for _ in range(BATCH)], f"settle ({BATCH} receipts, 1 client)")
    settle([order(client) for _ in range(BATCH)], f"settle ({BATCH} receipts, 1 client, again)")
    settle([order(cl) for cl in clients], f"settle ({BATCH} receipts, {BATCH} clients)")
    settle([order(cl) for cl in clients], f"settle ({BATCH} receipts, {BATCH} clients, again)")

    # dispute paths: undelivered (demand -> resolve slashes), griefing demand (receipt settled -> bond
    # to the node), invalid signed delivery (challenge slashes)
    o1, o2 = order(client, 10), order(client, 10)
    acc1, acc2 = rm.sign_acceptance(o1, node), rm.sign_acceptance(o2, node)
    net.time_travel(20)
    tx(rm._fn("demand", o1.as_tuple(), acc1), client, "demand (bond)")
    tx(rm._fn("demand", o2.as_tuple(), acc2), client, "demand (bond)")
    settle([o2], "settle (1 receipt)")
    tx(rm._fn("resolve", o2.as_tuple()), node, "resolve (order paid: bond to node)")
    net.time_travel(3700)
    tx(rm._fn("resolve", o1.as_tuple()), client, "resolve (undelivered: slash, bond back)")
    o3 = order(client)
    inst = [int.from_bytes(o3.input_commitment, "big"), 7, 8]
    proof = bytes(range(256)) * 8
    sig = rm.sign_delivery(o3, inst, proof, node)
    tx(
        rm._fn("challenge", o3.as_tuple(), inst, proof, sig),
        client,
        "challenge (2 KiB proof, verifier rejects, slash)",
    )
    tx(rm._fn("request_withdraw", node.address, 10 * ONE_VEIL), client, "request_withdraw")
    net.time_travel(2 * 86400 + 1)
    tx(rm._fn("withdraw", node.address), client, "withdraw")
    tx(rm._fn("collect"), node, "collect")
    return [r for r in rows if r[0] == "ReceiptMarket"]


def zk_rows(net: Network) -> list[tuple[str, str, int]]:
    """With EZKL's real verifier and a real proof (breast-cancer MLP, as tests/zk): JobMarket's ZK job
    (second in a row) against ReceiptMarket's proof claim and demand answered with a proof."""
    import tempfile
    import warnings

    from veilproof.artifacts import ArtifactStore
    from veilproof.chain.deploy import ReceiptParams, deploy_receipt_market, deploy_zk_verifier
    from veilproof.chain.receipt_market import Order
    from veilproof.chain.suite import Suite
    from veilproof.client.publish import publish_model
    from veilproof.models import build_zk_package, prove
    from veilproof.models.examples import build_example
    from veilproof.zk import evm
    from veilproof.zk.instances import input_commitment
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    with tempfile.TemporaryDirectory(prefix="vp-gas-") as td:  # the model build, removed after
        root = Path(td)
        ex = build_example("breast_cancer_mlp", root / "examples")
        pkg = build_zk_package(ex.onnx_path, ex.calibration_path, ArtifactStore(root / "store"), name="mlp")
        x = ex.x_test[0]
        pb, inst = evm.calldata(prove(pkg, x).proof)
        commit = input_commitment(pkg.settings, x).to_bytes(32, "big")
        owner, node, client = net.new_accounts(3)
        d = deploy_suite(net, owner, SuiteParams())
        v = evm.compile_reusable_verifier()
        deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
        deploy_receipt_market(net, owner, d, ReceiptParams())
        s = Suite.attach(net, d)
        rm = s.receipts
        assert rm is not None
        mid = publish_model(
            s, owner, name="mlp", price=ONE_VEIL, onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg
        ).model_id
        stake = SuiteParams().min_stake + 2 * SuiteParams().slash_amount  # production defaults
        s.token.mint(node.address, stake, sender=owner)
        s.token.mint(client.address, 1000 * ONE_VEIL, sender=owner)
        s.nodes.register("http://127.0.0.1:1", b"\x02" * 33, [mid], sender=node)
        s.token.approve(s.nodes.address, stake, sender=node)
        s.nodes.stake(stake, sender=node)
        s.token.approve(s.market.address, 2**256 - 1, sender=client)
        s.token.approve(rm.address, 2**256 - 1, sender=client)
        rows: list[tuple[str, str, int]] = []
        for _ in range(2):  # the second job is the steady state
            r = s.market.open_job(
                mid, node.address, commit, 1, net.now() + 3600, max_price=ONE_VEIL, sender=client
            )
            job_id = s.market.opened_job_id(r)
            st = s.market.start_job(job_id, sender=node)
            sub = s.market.submit_zk(job_id, inst, pb, sender=node, gas=3_000_000)
        rows += [
            ("JobMarket (real proof)", "open_job (ZK)", r.gas_used),
            ("JobMarket (real proof)", "start_job", st.gas_used),
            ("JobMarket (real proof)", "submit_zk_result (verify + settle)", sub.gas_used),
        ]
        rm.deposit(node.address, 100 * ONE_VEIL, sender=client)
        roy = rm.model_royalty(mid)
        o = Order(client.address, node.address, mid, commit, ONE_VEIL, net.now() + 60, 1, royalty=roy)
        net.time_travel(120)
        cl = rm.claim_with_proof(o, rm.sign_order(o, client), inst, pb, sender=node, gas=3_000_000)
        rows.append(("ReceiptMarket (real proof)", "claim_with_proof (withheld receipt)", cl.gas_used))
        o = Order(client.address, node.address, mid, commit, ONE_VEIL, net.now() + 60, 2, royalty=roy)
        acc = rm.sign_acceptance(o, node)
        net.time_travel(120)
        dm = rm.demand(o, acc, sender=client)
        cl = rm.claim_with_proof(o, rm.sign_order(o, client), inst, pb, sender=node, gas=3_000_000)
        rows.append(("ReceiptMarket (real proof)", "demand", dm.gas_used))
        rows.append(("ReceiptMarket (real proof)", "claim_with_proof (answers a demand)", cl.gas_used))
        return rows


def table(rows: list[tuple[str, str, int]]) -> str:
    lines = [
        "# Gas used by the core contracts",
        "",
        "Measured by `bench/gas.py` on the embedded py-evm chain (cancun rules, Vyper 0.4.3), one scenario",
        "through every state-changing function. Gas of a transaction, including the 21,000 base cost and",
        "calldata. `submit_zk_result` with an accepted proof depends on the EZKL verifier and is measured",
        "by the ZK benchmarks; the market's own overhead is close to `challenge_zk` minus the signature check.",
        "Deployed with the production defaults (`SuiteParams()`: 5% protocol fee, so a settle also credits",
        "the treasury: `accept` +19,900 gas for the first fee, `finalize` +2,800 after that).",
        "",
        "| contract | function | gas |",
        "|---|---|---:|",
    ]
    seen: set[tuple[str, str]] = set()
    for contract, fn, gas in rows:
        if (contract, fn) in seen:
            continue
        seen.add((contract, fn))
        lines.append(f"| {contract} | `{fn}` | {gas:,} |")
    first = {fn: gas for contract, fn, gas in reversed(rows) if contract == "JobMarket"}
    steps = ["open_job (FHE)", "start_job", "submit_fhe_result", "accept"]
    lines += [
        "",
        "One FHE job (open + start + submit + accept), the market's transactions only: "
        + " + ".join(f"{first[k]:,}" for k in steps)
        + f" = **{sum(first[k] for k in steps):,} gas**.",
    ]
    rm = {fn: gas for contract, fn, gas in rows if contract == "ReceiptMarket"}  # last call of each
    if rm:
        one = rm["settle (1 receipt)"]
        b1 = rm[f"settle ({BATCH} receipts, 1 client, again)"]
        bn = rm[f"settle ({BATCH} receipts, {BATCH} clients, again)"]
        zk_open = first["open_job (ZK)"]
        lines += [
            "",
            "## Pay-on-proof (ReceiptMarket, docs/settlement.md)",
            "",
            "A job has no on-chain open: the order, the acceptance and the receipt are signed off chain, and",
            "the node settles receipts. Per job, steady state (balances and the nonce word already written):",
            "",
            "| path | gas per job |",
            "|---|---:|",
            f"| happy, 1 receipt per `settle` | {one:,} |",
            f"| happy, {BATCH} receipts of one client per `settle` | {b1 // BATCH:,} ({b1:,} / {BATCH}) |",
            f"| happy, {BATCH} receipts of {BATCH} clients per `settle` | {bn // BATCH:,} ({bn:,} / {BATCH}) |",
        ]
        real = {fn: gas for contract, fn, gas in rows if contract.endswith("(real proof)")}
        if real:
            jm = [real["open_job (ZK)"], real["start_job"], real["submit_zk_result (verify + settle)"]]
            lines += [
                f"| JobMarket ZK (eager): open + start + submit, real proof | {sum(jm):,} ({' + '.join(f'{g:,}' for g in jm)}) |",
                f"| dispute: withheld receipt, node's `claim_with_proof`, real proof | {real['claim_with_proof (withheld receipt)']:,} |",
                f"| dispute: `demand` + `claim_with_proof` answering it, real proof | "
                f"{real['demand'] + real['claim_with_proof (answers a demand)']:,} ({real['demand']:,} + {real['claim_with_proof (answers a demand)']:,}) |",
            ]
        else:
            lines.append(
                f"| JobMarket ZK (eager): open + start, before the ~1.1M submit (`--zk` measures it) | {zk_open:,} + {first['start_job']:,} |"
            )
        lines += [
            "",
            "A client's `deposit` (first: "
            + f"{rm['deposit (first)']:,}; top-up: {rm['deposit (top-up)']:,}) is paid once for many jobs.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "gas.md"))
    ap.add_argument("--url", default="embedded", help="chain URL (default: embedded py-evm)")
    ap.add_argument(
        "--zk", action="store_true", help="also measure with a real EZKL proof (builds a model, ~1 min)"
    )
    args = ap.parse_args()
    net = connect(args.url)
    rows = run(net)
    md = table(rows + (zk_rows(net) if args.zk else []))
    Path(args.out).write_text(md)
    print(md)


if __name__ == "__main__":
    main()
