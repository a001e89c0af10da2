"""Layering rules that a grep can check: web3's contract API is used only inside veilproof.chain.

Why: nodes, clients, validators, agents and the CLI speak the facades' verbs
(:mod:`veilproof.chain.facade`); a raw ``contract.functions.X`` or ``contract.events.X`` outside the
chain layer would spread an ABI detail (names, struct positions, hashing) back into a composer.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "veilproof"
CHAIN = SRC / "chain"
RAW_CONTRACT_API = re.compile(r"\.(functions|events)\.")


def test_only_the_chain_layer_touches_contract_functions_and_events() -> None:
    offenders = [
        f"{path.relative_to(SRC.parent)}:{n}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if CHAIN not in path.parents
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if RAW_CONTRACT_API.search(line)
    ]
    assert not offenders, "use a facade verb from veilproof.chain instead of:\n" + "\n".join(offenders)


def test_the_rule_sees_what_it_forbids() -> None:
    assert RAW_CONTRACT_API.search("net.call(suite.market.functions.job_count())")
    assert RAW_CONTRACT_API.search("c.events.JobOpened().process_receipt(r)")
    assert not RAW_CONTRACT_API.search("suite.market.job_count()")
    assert (SRC / "node" / "service.py").is_file()  # the scan looks where the composers are
