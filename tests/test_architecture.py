"""The layering of docs/design.md, enforced: who may import whom inside ``src/veilproof``.

Imports are read with ``ast`` (function-level imports count too: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
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
