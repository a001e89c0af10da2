"""Module-scoped live networks for the end-to-end tests (see world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from world import FheWorld, ZkWorld, make_fhe_world, make_world


@pytest.fixture(scope="module")
def zk_world(tmp_path_factory: pytest.TempPathFactory, mlp, mlp_substitute) -> Iterator[ZkWorld]:  # type: ignore[no-untyped-def]
    w = make_world(tmp_path_factory.mktemp("e2e-zk"), None, mlp, mlp_substitute)
    try:
        yield w
    finally:
        w.lnet.stop()


@pytest.fixture(scope="module")
def fhe_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FheWorld]:
    w = make_fhe_world(tmp_path_factory.mktemp("e2e-fhe"), None)
    try:
        yield w
    finally:
        w.lnet.stop()
