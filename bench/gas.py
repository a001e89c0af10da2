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

    tx("NodeRegistry", nodes.functions.request_unbond(10 * ONE_VEIL), node)
    net.time_travel(params.unbond_delay)
    tx("NodeRegistry", nodes.functions.withdraw_unbonded(), node)
    tx("ModelRegistry", models.functions.transfer_model(2, client.address), author)
    tx("ModelRegistry", models.functions.retire(2), client)
    tx("Token", token.functions.approve(owner.address, ONE_VEIL), client)
    tx("Token", token.functions.transferFrom(client.address, author.address, ONE_VEIL), owner)
    tx("Token", token.functions.set_minter(owner.address), owner)
    tx("Token", token.functions.renounce_owner_minting(), owner)
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
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "gas.md"))
    ap.add_argument("--url", default="embedded", help="chain URL (default: embedded py-evm)")
    args = ap.parse_args()
    md = table(run(connect(args.url)))
    Path(args.out).write_text(md)
    print(md)


if __name__ == "__main__":
    main()
