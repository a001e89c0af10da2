"""Validator tests reuse the end-to-end worlds (tests/e2e/world.py): real chain, real node processes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
