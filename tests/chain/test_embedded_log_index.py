"""The embedded chain's log index answers ``eth_getLogs`` exactly as eth-tester's full scan does.

Why: the index (and the hashed transaction lookup under it) exist because eth-tester's scans made a
long test session's chain slower with every block; an index that drops, duplicates or misorders a log
would break every facade that reads history, so it is checked against the scan it replaces, on random
ranges, addresses and topics over a chain of several emitters and empty blocks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from eth_tester import EthereumTester
from eth_tester.exceptions import TransactionNotFound
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from veilproof.chain import compile_contract, connect
from veilproof.chain.network import Network

EMITTER = """# pragma version ~=0.4.3
event Ping:
    who: indexed(address)
    tag: indexed(uint256)
    value: uint256

@external
def ping(tag: uint256, amount: uint256, times: uint256):
    for i: uint256 in range(times, bound=4):
        log Ping(who=msg.sender, tag=tag, value=amount + i)
"""


def _world(tmp: Path) -> tuple[Network, list[str], list[Any]]:
    net = connect()
    src = tmp / "Emitter.vy"
    src.write_text(EMITTER)
    cc = compile_contract(src)
    people = net.new_accounts(3)
    emitters = [net.deploy_bytecode(cc.abi, cc.bytecode, sender=people[0]) for _ in range(3)]
    for i in range(24):
        who = people[i % 3]
        c = emitters[(i * 7) % 3]
        net.transact(c.functions.ping(i % 4, i, i % 3), sender=who)  # 0..2 logs per tx
        if i % 5 == 0:
            net.backend.tester.mine_blocks(2)  # type: ignore[attr-defined]  # empty blocks between
    return net, [c.address for c in emitters], people


def test_index_matches_the_full_scan(tmp_path: Path) -> None:
    net, emitters, people = _world(tmp_path)
    tester = net.backend.tester  # type: ignore[attr-defined]
    head = net.w3.eth.block_number
    topic0 = Web3.to_hex(Web3.keccak(text="Ping(address,uint256,uint256)"))

    def scan(**kw: object) -> tuple[object, ...]:
        return tuple(EthereumTester.get_logs(tester, **kw))

    blocks = st.one_of(st.none(), st.integers(0, head), st.sampled_from(["latest", "earliest"]))
    addresses = st.one_of(
        st.none(), st.sampled_from(emitters), st.lists(st.sampled_from(emitters), min_size=1, max_size=3)
    )
    topic_sets = st.one_of(
        st.none(),
        st.just([topic0]),
        st.builds(
            lambda who, tag: [topic0, who, tag],
            st.one_of(
                st.none(), st.sampled_from(people).map(lambda a: "0x" + a.address[2:].lower().rjust(64, "0"))
            ),
            st.one_of(st.none(), st.integers(0, 4).map(lambda t: "0x" + hex(t)[2:].rjust(64, "0"))),
        ),
    )

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(blocks, blocks, addresses, topic_sets)
    def check(lo: object, hi: object, address: object, topics: object) -> None:
        kw = {"from_block": lo, "to_block": hi, "address": address, "topics": topics}
        assert tester.get_logs(**kw) == scan(**kw)

    check()
    everything = tester.get_logs(from_block=0, to_block=head)
    assert len(everything) == len(scan(from_block=0, to_block=head)) == 24  # sum of i % 3: every log seen
    # blocks mined after the index was built are read too
    net.transact(_ping(net, emitters[0]), sender=people[1])
    assert tester.get_logs(from_block=0) == scan(from_block=0)
    assert len(tester.get_logs(from_block=0)) == len(everything) + 1


def _ping(net: Network, address: str) -> Any:
    abi: Any = [
        {
            "type": "function",
            "name": "ping",
            "inputs": [{"name": n, "type": "uint256"} for n in ("tag", "amount", "times")],
            "outputs": [],
            "stateMutability": "nonpayable",
        }
    ]
    return net.w3.eth.contract(Web3.to_checksum_address(address), abi=abi).functions.ping(1, 99, 1)


def test_old_receipts_are_found_by_index() -> None:
    """A receipt deep in the chain is the one eth-tester's scan finds (and an unknown hash still fails)."""
    net = connect()
    tester = net.backend.tester  # type: ignore[attr-defined]
    faucet = tester.get_accounts()[0]
    (bob,) = net.new_accounts(1)
    first = tester.send_transaction({"from": faucet, "to": bob.address, "value": 7, "gas": 21_000})
    tester.mine_blocks(50)
    rcpt = net.w3.eth.get_transaction_receipt(first)
    assert Web3.to_hex(rcpt["transactionHash"]) == first and rcpt["from"] == faucet
    tx = net.w3.eth.get_transaction(first)
    assert tx["blockNumber"] == rcpt["blockNumber"] and tx["value"] == 7 and tx["to"] == bob.address
    with pytest.raises(TransactionNotFound):
        tester.get_transaction_receipt("0x" + "ab" * 32)


def test_threads_building_the_index_at_once_see_each_log_once(tmp_path: Path) -> None:
    """A node's worker threads and the explorer's server share one in-process chain: the first
    ``get_logs`` calls may race to build the index, and none may see a log twice or miss one."""
    from concurrent.futures import ThreadPoolExecutor

    net, emitters, _ = _world(tmp_path)
    tester = net.backend.tester  # type: ignore[attr-defined]
    want = tuple(EthereumTester.get_logs(tester, from_block=0))
    asked: list[Any] = [*emitters, None, None, None]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as the interpreter can: races show
    try:
        with ThreadPoolExecutor(6) as pool:
            got = list(pool.map(lambda a: tester.get_logs(from_block=0, address=a), asked))
    finally:
        sys.setswitchinterval(switch)
    for address, logs in zip(asked, got, strict=True):
        assert logs == tuple(lg for lg in want if address in (None, lg["address"]))
    assert tester.get_logs(from_block=0) == want and len(want) == 24
