"""Session-wide fixtures: a real anvil on 127.0.0.1, started once and stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Keystores in tests use light scrypt so that each load takes milliseconds, not a second.
os.environ.setdefault("VEILPROOF_SCRYPT_N", "1024")


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    from veilproof.chain.anvil import start_anvil

    node = start_anvil()
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain_url(request: pytest.FixtureRequest) -> str:
    """Run a test on both backends: the embedded py-evm chain and a real anvil."""
    if request.param == "embedded":
        return "embedded"
    return str(request.getfixturevalue("anvil_url"))
