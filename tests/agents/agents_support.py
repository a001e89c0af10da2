"""Shared constants and helpers of the agents tests (a uniquely named module, not ``conftest``,
so imports never collide with other test folders' conftest modules)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from eth_utils import keccak

from veilproof.chain.deploy import ONE_VEIL
from veilproof.errors import ContractReverted

ONE = ONE_VEIL
PRICE = 10 * ONE
MIN_STAKE = 100 * ONE
MODE_FHE = 2
SETTLED = 3


def h(label: str) -> bytes:
    """A deterministic nonzero bytes32 for tests."""
    return keccak(label.encode())


@contextmanager
def reverts(reason: str | None = None) -> Iterator[None]:
    """Expect a ContractReverted, with exactly ``reason`` when given."""
    with pytest.raises(ContractReverted) as e:
        yield
    if reason is not None:
        assert e.value.reason == reason, f"expected {reason!r}, got {e.value.reason!r}"
