"""The demo's agent step on a live network: an agent's capped wallet buys a private prediction from a
node process, tips it through a stealth address, rates it, and an over-cap job is refused.

The checks are against the chain and the clear model, not against the report alone: the report could
say anything, the chain and the decrypted output cannot be faked by the step.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from world import PRICE, FheWorld, make_fhe_world

from veilproof.agents import ReputationClient
from veilproof.chain.views import MODE_FHE, SETTLED, read_job
from veilproof.demo.agent_step import FEEDBACK_SCORE, AgentStepReport, run_agent_step

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FheWorld]:
    w = make_fhe_world(tmp_path_factory.mktemp("e2e-agent-step"), None)
    try:
        yield w
    finally:
        w.lnet.stop()


def test_agent_step_buys_tips_rates_and_is_refused_over_cap(world: FheWorld) -> None:
    w, lnet = world, world.lnet
    x = w.data.x_test[0]  # type: ignore[attr-defined]
    said: list[str] = []
    token = lnet.suite.token
    node_veil = token.balance_of(w.node.account.address)
    r = run_agent_step(lnet, w.model_id, x, w.node, said.append)
    assert isinstance(r, AgentStepReport)

    # the job: FHE, paid and accepted by the wallet, output equal to the clear model's
    job = read_job(lnet.suite, r.job_id)
    assert job.status == SETTLED and r.job_status == "settled"
    assert job.mode == MODE_FHE and job.price == PRICE == r.price
    assert job.client.lower() == r.wallet.lower() and r.job_client_is_wallet
    assert job.node.lower() == w.node.account.address.lower()
    clear = np.ravel(w.model.predict_proba(x.reshape(1, -1), "disable"))  # type: ignore[attr-defined]
    assert np.allclose(r.output, clear, atol=1e-6), (r.output, clear)
    assert 0 < r.node_earnings < PRICE  # the node's share, after the owner's royalty

    # money: the wallet paid exactly job + tip, within its caps; the tip reached the node
    tip = PRICE // 2
    assert (r.per_payment_cap, r.daily_cap, r.tip) == (PRICE + tip, 2 * PRICE, tip)
    assert r.wallet_spent == PRICE + tip == r.spent_today
    wallet_now = token.balance_of(r.wallet)
    assert wallet_now == r.wallet_after == r.wallet_before - PRICE - tip
    assert r.tip_found and r.tip_swept and r.scan_ms < 5_000
    assert token.balance_of(w.node.account.address) == node_veil + tip
    assert token.balance_of(r.tip_address) == 0  # swept out

    # feedback is on chain, bound to the job, from the wallet
    rep = ReputationClient(lnet.net, lnet.suite.deployment.extra["reputation"])
    s = rep.summary(w.node.account.address)
    assert r.feedback_score == FEEDBACK_SCORE and (s.count, s.average) == (1, FEEDBACK_SCORE)
    assert r.node_ratings == 1 and r.node_rating_average == FEEDBACK_SCORE
    assert rep.validation(r.job_id) is not None

    # the breach: refused by the Python check with the contract's reason, nothing sent
    assert r.refused_reason == "over daily cap" and r.refused_before_tx
    assert lnet.suite.market.job_count() == r.job_id  # no second job

    # the report's gas covers every wallet call, and the agents contracts are recorded for tools
    for label in ("pay_job", "execute(accept)", "pay_stealth", "execute(give_feedback)"):
        assert r.gas[label] > 0, r.gas
    saved = lnet.reload_deployment().extra
    assert {"agent_registry", "reputation", "stealth_registry", "stealth_announcer"} <= saved.keys()
    assert said and all(isinstance(m, str) for m in said)
    assert len(r.rows()) >= 8


def test_agent_step_runs_twice_on_one_network(world: FheWorld) -> None:
    """The demo may be extended to call the step again: it reuses the agents contracts."""
    lnet = world.lnet
    extra_before = dict(lnet.suite.deployment.extra)
    r = run_agent_step(lnet, world.model_id, world.data.x_test[1], world.node, lambda _m: None)  # type: ignore[attr-defined]
    assert lnet.suite.deployment.extra == extra_before
    assert r.job_status == "settled" and r.tip_found and r.refused_before_tx
    assert r.node_ratings >= 1
