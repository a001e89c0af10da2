"""Source rules for contracts/ (issue #11): every assert and raise carries a reason string, and every
external function has NatSpec (@notice, one @param per argument, @return when it returns)."""

from __future__ import annotations

from pathlib import Path

import pytest
import vyper.ast as vy_ast

from veilproof.chain import compile_contract, contracts_dir

SOURCES = sorted(contracts_dir().rglob("*.vy"))


def _ast(path: Path) -> vy_ast.Module:
    return vy_ast.parse_to_ast(path.read_text(), source_id=0, resolved_path=str(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_assert_has_a_reason(path: Path) -> None:
    mod = _ast(path)
    silent = [n.lineno for n in mod.get_descendants(vy_ast.Assert) if n.msg is None]
    silent += [n.lineno for n in mod.get_descendants(vy_ast.Raise) if n.exc is None]
    assert not silent, f"{path.name}: assert/raise without a reason string at lines {silent}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_external_function_has_natspec(path: Path) -> None:
    problems = []
    for fn in _ast(path).get_children(vy_ast.FunctionDef):
        if "external" not in {d.id for d in fn.decorator_list if isinstance(d, vy_ast.Name)}:
            continue
        doc = getattr(fn, "doc_string", None)
        text = doc.value if doc is not None else ""
        if "@notice" not in text:
            problems.append(f"{fn.name}: no @notice")
        problems += [f"{fn.name}: no @param {a.arg}" for a in fn.args.args if f"@param {a.arg}" not in text]
        if fn.returns is not None and "@return" not in text:
            problems.append(f"{fn.name}: no @return")
    assert not problems, f"{path.name}: {problems}"


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent == contracts_dir()], ids=lambda p: p.name)
def test_compiles(path: Path) -> None:
    """Every contract compiles, snekmate imports included (the modules under lib/ compile through them)."""
    assert compile_contract(path).bytecode.startswith("0x")
