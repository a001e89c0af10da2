"""Reuse the session fixtures of tests/zk (same on-disk store, so builds are cache hits)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_zk_fixtures", Path(__file__).parent.parent / "zk" / "conftest.py")
assert _spec and _spec.loader
_zk = importlib.util.module_from_spec(_spec)
sys.modules["_zk_fixtures"] = _zk
_spec.loader.exec_module(_zk)

Built = _zk.Built
build = _zk.build
mlp = _zk.mlp
logreg = _zk.logreg
mlp_proof = _zk.mlp_proof
