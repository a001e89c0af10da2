"""The verifier build shipped beside its source (for installs without solcjs) is what solcjs makes of it."""

from __future__ import annotations

import json

from veilproof.zk import evm


def test_bundled_verifier_build_matches_a_fresh_compile() -> None:
    source = evm.bundled_verifier_source().read_text()
    shipped = json.loads(evm.bundled_verifier_build().read_text())
    fresh = evm.compile_solidity(source, evm.REUSABLE_CONTRACT)
    hint = "stale: regenerate with `python -c 'from veilproof.zk import evm; evm.write_bundled_verifier_build()'`"
    assert shipped["source_sha256"] == evm._source_digest(source), hint
    assert (shipped["bytecode"], shipped["abi"]) == (fresh.bytecode, fresh.abi), hint
    # and the deploy path uses it
    assert evm.compile_reusable_verifier().bytecode == fresh.bytecode
