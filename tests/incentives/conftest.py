"""Fixtures for the incentive layer: one embedded chain per session, a fresh subnet per test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from eth_account.signers.local import LocalAccount

from veilproof.chain import Network, connect
from veilproof.chain.deploy import ONE_VEIL
from veilproof.errors import ContractReverted
from veilproof.incentives.deploy import IncentiveParams
from veilproof.incentives.onchain import Subnet

ONE = ONE_VEIL
VSTAKE = 1_000 * ONE
PARAMS = IncentiveParams(validator_min_stake=VSTAKE, emission_per_epoch=1_000 * ONE)


@pytest.fixture(scope="session")
def net() -> Iterator[Network]:
    n = connect("embedded")
    yield n
    n.close()


@pytest.fixture
def subnet(net: Network) -> Subnet:
    """Five staked nodes, four validators with unequal stake (2k..5k VEIL; min 1k)."""
    return Subnet.create(net, 5, [2 * VSTAKE, 3 * VSTAKE, 4 * VSTAKE, 5 * VSTAKE], PARAMS)


@contextmanager
def reverts(reason: str) -> Iterator[None]:
    with pytest.raises(ContractReverted) as e:
        yield
    assert e.value.reason == reason, f"expected {reason!r}, got {e.value.reason!r}"


def submitted_fhe_job(s: Subnet, output_hash: bytes) -> tuple[int, LocalAccount, LocalAccount]:
    """An FHE job of the subnet's first node, opened (keys committed), started and submitted with
    ``output_hash``: inside its challenge window, ready to be attested."""
    from eth_utils import keccak

    client = s.net.new_accounts(1)[0]
    node = s.node_accts[0]
    s.mint(client.address, 100 * ONE_VEIL)
    s.tx(s.token.contract.functions.approve(s.market.address, 2**256 - 1), client)
    commitment = keccak(b"input ct")
    s.tx(
        s.market.contract.functions.open_job(
            s.model_id, node.address, commitment, 2, s.net.now() + 1000, keccak(b"keys"), 10 * ONE_VEIL
        ),
        client,
    )
    job_id = int(s.net.call(s.market.contract.functions.job_count()))
    s.tx(s.market.contract.functions.start_job(job_id), node)
    s.tx(
        s.market.contract.functions.submit_fhe_result(
            job_id, keccak(b"keys"), commitment, output_hash, b"\x04" * 32
        ),
        node,
    )
    return job_id, client, node
