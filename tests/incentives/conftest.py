"""Fixtures for the incentive layer: one embedded chain per session, a fresh subnet per test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

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
