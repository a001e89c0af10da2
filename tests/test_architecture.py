"""The layering of docs/design.md, enforced.

* who may import whom inside ``src/veilproof`` (read with ``ast``: a lazy import is still a dependency);
* web3's contract API (``.functions.`` / ``.events.``) is used only inside ``veilproof.chain``: composers
  speak the facades' verbs, so no ABI detail (names, struct positions, hashing) leaks into them;
* the node's HTTP API (routes, header names) is spelled only in ``veilproof.protocol``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "veilproof"


def _imports(path: Path) -> set[str]:
    """Top-level parts of veilproof that ``path`` imports (``veilproof.chain.x`` -> ``chain``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for n in names:
            parts = n.split(".")
            if parts[0] == "veilproof" and len(parts) > 1:
                found.add(parts[1])
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for f in SRC.rglob("*.py"):
        rel = f.relative_to(SRC).parts
        part = rel[0].removesuffix(".py") if len(rel) > 1 else "<root>"
        graph.setdefault(part, set()).update(_imports(f) - {part})
    return graph


GRAPH = _graph()

# part -> the only parts of ours it may import
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": {"errors"},
    "zk": {"artifacts", "errors"},
    "fhe": {"artifacts", "errors"},
    "chain": {"errors"},
    "artifacts": {"errors", "protocol"},  # peer fetch speaks the node API: its route comes from protocol
    "models": {"artifacts", "errors", "zk", "fhe"},
    "protocol": {"errors"},
}
# parts that compose the layers below and must not import each other (validator -> client is the exception)
PEERS = {"node", "client", "agents", "validator"}


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_lower_layers_import_only_what_is_below_them(part: str) -> None:
    extra = GRAPH.get(part, set()) - ALLOWED[part]
    assert not extra, f"{part} imports {sorted(extra)}; allowed: {sorted(ALLOWED[part])}"


def test_composers_do_not_import_each_other() -> None:
    bad = {(a, b) for a in PEERS for b in GRAPH.get(a, set()) & PEERS if (a, b) != ("validator", "client")}
    assert not bad, f"composers importing each other: {sorted(bad)}"


def test_nothing_imports_demo_or_cli() -> None:
    bad = {(a, b) for a, deps in GRAPH.items() for b in deps & {"demo", "cli"} if a not in {"cli", "demo"}}
    assert not bad, f"only cli may import demo/cli: {sorted(bad)}"


def test_the_graph_was_read() -> None:
    """Guards the tests above against passing on an empty graph."""
    assert {"chain", "node", "client", "zk", "fhe", "cli"} <= set(GRAPH)
    assert "chain" in GRAPH["node"] and "demo" in GRAPH["cli"]


CHAIN = SRC / "chain"
PROTOCOL = SRC / "protocol"
RAW_CONTRACT_API = re.compile(r"\.(functions|events)\.")
WIRE_LITERAL = re.compile(r"X-Veil-|[\"'}](/zk/jobs|/fhe/(jobs|keys)|/jobs/|/health\b|/artifacts/)")


def _offenders(pattern: re.Pattern[str], allowed: Path) -> list[str]:
    return [
        f"{path.relative_to(SRC.parent)}:{n}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if allowed not in path.parents
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def test_only_the_chain_layer_touches_contract_functions_and_events() -> None:
    offenders = _offenders(RAW_CONTRACT_API, CHAIN)
    assert not offenders, "use a facade verb from veilproof.chain instead of:\n" + "\n".join(offenders)


def test_only_protocol_spells_routes_and_headers() -> None:
    offenders = _offenders(WIRE_LITERAL, PROTOCOL)
    assert not offenders, "use the constants of veilproof.protocol.api instead of:\n" + "\n".join(offenders)


def test_the_text_rules_see_what_they_forbid() -> None:
    assert RAW_CONTRACT_API.search("net.call(suite.market.functions.job_count())")
    assert RAW_CONTRACT_API.search("c.events.JobOpened().process_receipt(r)")
    assert not RAW_CONTRACT_API.search("suite.market.job_count()")
    assert WIRE_LITERAL.search('headers={"X-Veil-Signature": sig}')
    assert WIRE_LITERAL.search('f"{endpoint}/zk/jobs/{job_id}"')
    assert WIRE_LITERAL.search('"/zk/jobs/{job_id}"')
    assert (SRC / "node" / "admission.py").is_file() and (PROTOCOL / "api.py").is_file()
