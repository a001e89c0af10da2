"""Validator tests reuse the end-to-end worlds (tests/e2e/world.py): real chain, real node processes."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from veilproof.chain.deploy import ONE_VEIL
from veilproof.client import Client
from veilproof.validator import ModelAudit, Validator, ValidatorConfig
from veilproof.validator.audits import ClientFactory, default_client_factory

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))


@pytest.fixture
def make_validator() -> Callable[..., Validator]:
    """Build and register a validator auditing ``w.model_id`` (private, 10 test inputs) in a world
    with ``lnet``, ``model_id`` and ``data`` (the FHE worlds of tests/validator).

    ``stake_veil`` defaults to three times the stake already registered (at least 1,000 VEIL): then
    this validator holds the 2/3 FHE quorum alone, whatever validators earlier tests of the same
    module world left registered. A fixture, not a helper to import: several test folders have a
    conftest.py, and ``from conftest import`` resolves to whichever was imported first."""

    def make(w: Any, root: Path, stake_veil: int | None = None, **kw: Any) -> Validator:
        if stake_veil is None:
            stake_veil = max(1_000, 3 * (w.lnet.suite.rewards.total_active_stake() // ONE_VEIL))
        v = Validator(
            w.lnet.suite, w.lnet.new_funded(stake_veil + 100), root,
            [ModelAudit(w.model_id, w.data.x_test[:10], private=True)],
            config=ValidatorConfig(stake=stake_veil * ONE_VEIL), rng=kw.pop("rng", random.Random(0)), **kw,
        )  # fmt: skip
        v.ensure_registered()
        return v

    return make


class WrongAnswerClient(Client):
    """Fault injection only: as if the node had returned an encryption of another answer. The output
    hash posted on chain still matches what it returned (the client accepts and pays); only
    decryption reveals it."""

    def _infer_fhe(self, *a, **kw):  # type: ignore[no-untyped-def]
        res = super()._infer_fhe(*a, **kw)
        return replace(res, output=list(reversed(res.output)))


@pytest.fixture
def wrong_answer_clients() -> ClientFactory:
    """A validator's client factory whose audit clients see a wrong answer (see WrongAnswerClient)."""

    def factory(suite, acct, home):  # type: ignore[no-untyped-def]
        base = default_client_factory(suite, acct, home)
        return WrongAnswerClient(suite, acct, home, poll_interval=base.poll_interval)

    return factory
