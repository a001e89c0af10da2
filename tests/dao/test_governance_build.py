"""The shipped OpenZeppelin build (contracts/solidity/Governance.json) matches Governance.sol and the
pinned @openzeppelin/contracts; regenerate with veilproof.chain.solidity.write_governance_build()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veilproof.chain import solidity


def test_build_is_current_and_pinned() -> None:
    assert solidity.build_is_current(), "run veilproof.chain.solidity.write_governance_build()"
    pkg = json.loads((Path(__file__).parents[2] / "tools" / "npm" / "package.json").read_text())
    build = json.loads(solidity.build_path().read_text())
    assert pkg["dependencies"]["@openzeppelin/contracts"] == build["openzeppelin"] == "5.4.0"
    for c in build["contracts"].values():
        assert c["deployed_size"] <= 24_576  # EIP-170: deployable on mainnet-like chains


@pytest.mark.slow
def test_recompiling_gives_the_shipped_bytecode() -> None:
    fresh = solidity.compile_governance()
    shipped = json.loads(solidity.build_path().read_text())["contracts"]
    assert {n: c.bytecode for n, c in fresh.items()} == {n: c["bytecode"] for n, c in shipped.items()}
