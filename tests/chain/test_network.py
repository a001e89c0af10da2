"""The chain layer behaves the same on both backends: deploy, call, revert reasons, clocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from veilproof.chain import compile_contract, connect
from veilproof.chain.dev.rpc_server import EmbeddedRpcServer
from veilproof.errors import ContractReverted, InputError, TransactionFailed

PROBE = """# pragma version ~=0.4.3
x: public(uint256)

@external
def setx(v: uint256):
    assert v < 100, "too big"
    self.x = v

@external
@view
def deadline_passed(t: uint256) -> bool:
    return block.timestamp > t
"""


@pytest.fixture(scope="module")
def served_embedded_url() -> Iterator[str]:
    srv = EmbeddedRpcServer().start()
    yield srv.url
    srv.stop()


@pytest.fixture(params=["embedded", "served", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain_url(request: pytest.FixtureRequest) -> str:
    """Embedded in-process, embedded served over JSON-RPC to other processes, and real anvil."""
    if request.param == "embedded":
        return "embedded"
    fixture = "served_embedded_url" if request.param == "served" else "anvil_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def probe_src(tmp_path: Path) -> Path:
    p = tmp_path / "Probe.vy"
    p.write_text(PROBE)
    return p


def test_deploy_call_and_revert_reason(chain_url: str, probe_src: Path) -> None:
    net = connect(chain_url)
    (alice,) = net.new_accounts(1)
    cc = compile_contract(probe_src)
    c = net.deploy_bytecode(cc.abi, cc.bytecode, sender=alice)
    rcpt = net.transact(c.functions.setx(7), sender=alice)
    assert rcpt.gas_used > 21_000
    assert net.call(c.functions.x()) == 7
    with pytest.raises(ContractReverted) as e:
        net.transact(c.functions.setx(100), sender=alice)
    assert e.value.reason == "too big"
    assert net.call(c.functions.x()) == 7


def test_mined_revert_is_reported_with_reason_and_hash(chain_url: str, probe_src: Path) -> None:
    """With a fixed gas limit no estimate runs first: the failure comes from the mined receipt."""
    net = connect(chain_url)
    (alice,) = net.new_accounts(1)
    cc = compile_contract(probe_src)
    c = net.deploy_bytecode(cc.abi, cc.bytecode, sender=alice)
    with pytest.raises(ContractReverted) as e:
        net.transact(c.functions.setx(500), sender=alice, gas=100_000)
    assert e.value.reason == "too big"
    assert e.value.tx_hash and e.value.tx_hash.startswith("0x")


def test_out_of_gas_is_a_typed_failure(chain_url: str, probe_src: Path) -> None:
    net = connect(chain_url)
    (alice,) = net.new_accounts(1)
    cc = compile_contract(probe_src)
    c = net.deploy_bytecode(cc.abi, cc.bytecode, sender=alice)
    with pytest.raises((TransactionFailed, ContractReverted)):
        net.transact(c.functions.setx(5), sender=alice, gas=22_000)


def test_time_travel_moves_the_contract_clock(chain_url: str, probe_src: Path) -> None:
    net = connect(chain_url)
    (alice,) = net.new_accounts(1)
    cc = compile_contract(probe_src)
    c = net.deploy_bytecode(cc.abi, cc.bytecode, sender=alice)
    t = net.now() + 600
    assert net.call(c.functions.deadline_passed(t)) is False
    net.time_travel(601)
    assert net.call(c.functions.deadline_passed(t)) is True
    # advance_to lands exactly, however long the chain sat idle (anvil's evm_increaseTime would not)
    target = net.now() + 1000
    net.advance_to(target)
    assert net.now() == target
    net.advance_to(target - 5)  # the past: no-op
    assert net.now() == target


def test_sender_must_be_a_local_account(probe_src: Path) -> None:
    net = connect()
    cc = compile_contract(probe_src)
    (alice,) = net.new_accounts(1)
    c = net.deploy_bytecode(cc.abi, cc.bytecode, sender=alice)
    with pytest.raises(InputError, match="sender"):
        net.transact(c.functions.setx(1), sender=alice.address)  # type: ignore[arg-type]


def test_bad_url_is_rejected() -> None:
    with pytest.raises(InputError, match="chain url"):
        connect("ftp://nowhere")
