"""The explorer in a real browser (headless Debian Chromium): every page loads, a job links to its node
and to its model's lineage, the numbers shown are the chain's (read through the facades, not the
index), and "verify again" runs the posted proof through the on-chain EZKL verifier.

Screenshots: set ``VEILPROOF_EXPLORER_SCREENSHOTS=docs/img`` to refresh the README's images; otherwise
they go to the test's temporary directory (a normal run leaves the worktree clean)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from explorer_world import ExplorerWorld

from veilproof.explorer.app import PAGES, ExplorerServer, create_app
from veilproof.explorer.indexer import Indexer

# slow: the world verifies a real EZKL proof on the embedded chain; browser: see conftest.py
pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def site(world: ExplorerWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ix = Indexer.for_suite(world.suite, tmp_path_factory.mktemp("explorer") / "index.db")
    # the world's deployment names them
    assert ix.reputation is not None and ix.training is not None and ix.agent_registry is not None
    ix.sync()
    srv = ExplorerServer(create_app(ix)).start()
    try:
        yield srv.url
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = os.environ.get("VEILPROOF_EXPLORER_SCREENSHOTS")
    p = Path(d) if d else tmp_path_factory.mktemp("screenshots")
    p.mkdir(parents=True, exist_ok=True)
    return p


def _wei(el: Any) -> int:
    """The exact amount behind a rendered ``veil`` span (``data-wei``)."""
    from selenium.webdriver.common.by import By

    span = el if el.get_attribute("data-wei") else el.find_element(By.CSS_SELECTOR, "[data-wei]")
    return int(span.get_attribute("data-wei"))


def _go(browser: Any, el: Any, timeout: float = 120) -> None:
    """Click ``el`` and wait until the browser has left the current page and the next one has loaded:
    a click returns before the next page loads, and "verify again" takes seconds (a Halo2 verification
    on py-evm).

    The old page is marked with a window property (a new document does not have it) rather than
    watched with ``staleness_of``: while the document is being replaced ChromeDriver may answer a
    query about the old element with a generic "Node with given id does not belong to the document"
    error instead of a stale-element one (CI of stop 24), so every driver error during the wait
    means "not there yet", never a failure."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_script("window.__veilproofLeaving = true;")
    el.click()

    def arrived(driver: Any) -> bool:
        try:
            return bool(
                driver.execute_script(
                    "return window.__veilproofLeaving === undefined && document.readyState === 'complete';"
                )
            )
        except WebDriverException:
            return False

    WebDriverWait(browser, timeout).until(arrived)


def _h1(browser: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.TAG_NAME, "h1").text)


def test_every_page_loads(browser: Any, site: str, world: ExplorerWorld, shots: Path) -> None:
    from selenium.webdriver.common.by import By

    node0 = world.subnet.node_accts[0].address
    pages = [p.path for p in PAGES] + [
        f"/model/{world.zk_model}", f"/node/{node0}", f"/job/{world.settled_job}",
        f"/job/{world.refunded_job}", f"/epoch/{world.epoch}", f"/address/{world.subnet.owner.address}",
        f"/training/{world.training_job}", f"/model/{world.fl_model}", f"/data/{world.data_set}", f"/receipt/{world.receipt_orders[0].hex()}",
        f"/dao/proposal/{world.proposal_id}", f"/dao/grant/{world.grant_id}",
        f"/pipeline/{world.pipeline_id}",
    ]  # fmt: skip
    for path in pages:
        browser.get(site + path)
        assert "veilproof explorer" in browser.title, (path, browser.page_source[:600])
        assert _h1(browser) and "404" not in _h1(browser), path
        # every address and hash on the page is a link to its own page
        for a in browser.find_elements(By.CSS_SELECTOR, "a.addr, a.hash"):
            assert a.get_attribute("href").startswith(
                site + ("/address/" if "addr" in a.get_attribute("class") else "/hash/")
            )
    names = {"/": "overview", f"/model/{world.zk_model}": "model", "/nodes": "nodes",
             f"/job/{world.settled_job}": "job", f"/epoch/{world.epoch}": "epoch",
             f"/training/{world.training_job}": "training", f"/data/{world.data_set}": "data"}  # fmt: skip
    for path, name in names.items():
        browser.get(site + path)
        if name == "job":  # show a "verify again" result in the picture
            _go(browser, browser.find_element(By.ID, "verify-again"))
        assert browser.save_screenshot(str(shots / f"explorer-{name}.png"))
        assert (shots / f"explorer-{name}.png").stat().st_size > 10_000


def test_overview_counts_are_the_chains(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    s = world.suite
    browser.get(site + "/")

    def stat(name: str) -> str:
        return str(browser.find_element(By.CSS_SELECTOR, f"#stat-{name} .v").text)

    assert int(stat("models")) == s.models.model_count() == 4
    assert int(stat("nodes")) == s.nodes.node_count() == 3
    assert int(stat("jobs")) == s.market.job_count() == 2
    jobs = [s.market.read_job(i) for i in range(1, s.market.job_count() + 1)]
    assert int(stat("settled")) == sum(j.status_name == "settled" for j in jobs) == 1
    volume = browser.find_element(By.CSS_SELECTOR, "#stat-volume")
    assert _wei(volume) == sum(j.price for j in jobs if j.status_name == "settled")
    assert int(stat("epoch")) == s.rewards.current_epoch()


def test_job_to_node_and_to_model_lineage(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    s = world.suite
    job = s.market.read_job(world.settled_job)
    browser.get(site + "/jobs")
    _go(browser, browser.find_element(By.CSS_SELECTOR, f'tr[data-job="{world.settled_job}"] a.job'))
    assert _h1(browser).startswith(f"Job #{world.settled_job}")
    assert browser.find_element(By.ID, "job-status").text == job.status_name == "settled"
    assert _wei(browser.find_element(By.ID, "job-price")) == job.price
    assert browser.find_element(By.ID, "job-proof-hash").get_attribute("data-hash") == job.proof_hash
    # gas: the sum over the job's transactions, each receipt read from the chain here
    txs = {a.get_attribute("title") for a in browser.find_elements(By.CSS_SELECTOR, "#timeline a.hash")}
    assert len(txs) == 3  # open, start, submit (settles)
    shown_gas = int(browser.find_element(By.ID, "job-gas").get_attribute("data-gas"))
    assert shown_gas == sum(world.net.gas_used(t) for t in txs)
    events = [li.get_attribute("data-event") for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li")]
    assert events == ["JobOpened", "JobStarted", "ZkResultSubmitted", "JobSettled"]

    # to the node
    _go(browser, browser.find_element(By.CSS_SELECTOR, "#job-node a"))
    assert browser.find_element(By.ID, "node-address").text == job.node
    onchain = s.nodes.read_node(job.node)
    assert _wei(browser.find_element(By.ID, "node-stake")) == onchain.stake
    assert _wei(browser.find_element(By.ID, "node-emissions")) == world.node_emission[job.node] > 0
    models = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#node-models a")]
    assert models == [f"#{m}" for m in s.nodes.models_of(job.node)]

    # back, then to the model and along its lineage
    browser.back()
    _go(browser, browser.find_element(By.ID, "job-model"))
    m = s.models.read_model(job.model_id)
    assert _h1(browser) == f"Model #{m.model_id} · {m.name}"
    assert _wei(browser.find_element(By.ID, "model-price")) == m.price
    assert int(browser.find_element(By.ID, "model-royalty").get_attribute("data-bps")) == m.royalty_bps
    assert browser.find_element(By.CSS_SELECTOR, "#model-vk a").get_attribute("title") == m.zk_vk_hash
    keys = {g.get_attribute("data-key") for g in browser.find_elements(By.CSS_SELECTOR, "#lineage a.lnode")}
    parents = s.models.parents(m.model_id)
    assert keys == {f"m{m.model_id}", f"m{world.child_model}"} | {f"m{p}" for p in parents} | {
        f"d{d}" for d in s.models.datasets(m.model_id)
    }
    _go(browser, browser.find_element(By.CSS_SELECTOR, f'#lineage a.lnode[data-key="m{parents[0]}"]'))
    assert _h1(browser).startswith(f"Model #{parents[0]} ")


def test_verify_again(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site + f"/job/{world.settled_job}")
    _go(browser, browser.find_element(By.ID, "verify-again"))
    res = browser.find_element(By.ID, "verify-result")
    assert res.get_attribute("data-valid") == "true", res.text
    assert "accepted" in res.text
    browser.get(site + f"/job/{world.refunded_job}")
    assert browser.find_element(By.ID, "job-status").text == "refunded"
    _go(browser, browser.find_element(By.ID, "verify-again"))
    res = browser.find_element(By.ID, "verify-result")
    assert res.get_attribute("data-valid") == "false" and "no proof" in res.text


def test_epoch_heatmap_and_emissions(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site + "/epochs")
    _go(browser, browser.find_element(By.CSS_SELECTOR, "a.epoch"))
    assert _h1(browser) == f"Epoch {world.epoch}"
    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")
    assert len(cells) == 2 * 3  # 2 validators x 3 nodes
    # column j is the node in subnet slot j: the slot the validators' weight rows index
    s = world.suite
    cols = browser.find_elements(By.CSS_SELECTOR, "#heatmap a.col")
    # (an SVG link's href property is an SVGAnimatedString: read the attribute as written)
    assert [c.get_dom_attribute("href") for c in cols] == [
        f"/node/{s.nodes.subnet_node(j)}" for j in range(3)
    ]
    # the second validator put 60000 of 65535 on slot 0, above the consensus the first (2/3 of the
    # stake) set there: Yuma clipped exactly that weight
    clipped = {
        (c.get_attribute("data-validator"), c.get_attribute("data-col"))
        for c in browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.clipped")
    }
    assert clipped == {(world.subnet.validators[1].address, "0")}
    for addr, amount in world.node_emission.items():
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-node="{addr}"] .emission')
        assert _wei(row) == amount
    assert _wei(browser.find_element(By.ID, "epoch-node-total")) == sum(world.node_emission.values())


def test_node_reputation_and_audits(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    s = world.suite
    node = s.market.read_job(world.settled_job).node
    browser.get(site + "/nodes")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-node="{node}"]')
    summary = world.reputation.summary(node)
    assert summary.count == 1 and summary.total == 90
    assert row.find_element(By.CSS_SELECTOR, ".rep").text == f"{summary.total / summary.count:.1f}"
    _go(browser, row.find_element(By.CSS_SELECTOR, "a.addr"))
    # /address/<node> lands on the node's page
    avg = browser.find_element(By.ID, "node-rep-avg")
    assert (int(avg.get_attribute("data-count")), int(avg.get_attribute("data-total"))) == (
        summary.count, summary.total,
    )  # fmt: skip
    settled = [
        i for i in range(1, s.market.job_count() + 1)
        if s.market.read_job(i).node == node and s.market.read_job(i).status_name == "settled"
    ]  # fmt: skip
    assert int(browser.find_element(By.ID, "node-audits").text) == len(settled) == 1
    fb = browser.find_elements(By.CSS_SELECTOR, "#node-feedback tr[data-feedback]")
    assert [f.find_element(By.CSS_SELECTOR, ".score").text for f in fb] == ["90"]
    assert world.reputation.feedback(1).score == 90
    _go(browser, fb[0].find_element(By.CSS_SELECTOR, "a.job"))
    assert _h1(browser).startswith(f"Job #{world.settled_job}")


def test_training_job_rounds_payouts_and_model(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    tm, job_id = world.training, world.training_job
    job = tm.job(job_id)
    browser.get(site + "/training")
    _go(browser, browser.find_element(By.CSS_SELECTOR, f'tr[data-training="{job_id}"] a.training'))
    assert _h1(browser) == f"Training job #{job_id}"
    assert browser.find_element(By.ID, "training-state").text == job.state == "finished"
    assert _wei(browser.find_element(By.ID, "training-bounty")) == job.bounty
    assert (
        int(browser.find_element(By.ID, "training-rounds").get_attribute("data-posted")) == job.rounds_posted
    )
    posted = tm.rounds(job_id)
    rows_ = browser.find_elements(By.CSS_SELECTOR, "#training-round-table tr[data-round]")
    assert len(rows_) == len(posted) == 1
    for r, p in zip(rows_, posted, strict=True):
        assert r.find_element(By.CSS_SELECTOR, ".model-hash a").get_attribute("title") == p.model_hash.hex()
        assert r.find_element(By.CSS_SELECTOR, ".root a").get_attribute("title") == p.updates_root.hex()
        members = [
            (m.get_attribute("data-account"), int(m.get_attribute("data-score")))
            for m in r.find_elements(By.CSS_SELECTOR, ".member")
        ]
        assert members == list(zip(p.participants, p.scores, strict=True))
    # payouts: what each claim transferred (from its receipt), and every participant's summed score
    for acct, paid in world.payouts.items():
        row = browser.find_element(By.CSS_SELECTOR, f'#training-members tr[data-account="{acct}"]')
        assert _wei(row.find_element(By.CSS_SELECTOR, ".paid")) == paid > 0
    assert sum(world.payouts.values()) == job.bounty + 2 * job.participant_stake + job.coordinator_stake
    # to the published model, and back through its lineage
    _go(browser, browser.find_element(By.CSS_SELECTOR, "#training-published a.model"))
    assert _h1(browser).startswith(f"Model #{world.fl_model} ")
    _go(browser, browser.find_element(By.CSS_SELECTOR, "#model-datasets a.training"))
    assert _h1(browser) == f"Training job #{job_id}"
    browser.back()
    lin = [
        a
        for a in browser.find_elements(By.CSS_SELECTOR, "#lineage a.lnode")
        if "/training/" in (a.get_dom_attribute("href") or "")
    ]
    assert [a.get_dom_attribute("href") for a in lin] == [f"/training/{job_id}"]


def test_receipt_jobs_settled_in_one_batch(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    rm = world.suite.receipts
    assert rm is not None
    batch_gas = world.net.gas_used(world.settle_tx)
    orders = {o.hex() for o in world.receipt_orders}
    browser.get(site + "/jobs")
    listed = browser.find_elements(By.CSS_SELECTOR, "table.receipt-jobs tr[data-order]")
    assert {r.get_attribute("data-order") for r in listed} == orders
    for r in listed:
        assert r.find_element(By.CSS_SELECTOR, ".kind").text == "receipt"
        assert int(r.find_element(By.CSS_SELECTOR, ".gas").text.replace(",", "")) == batch_gas // 2
    _go(browser, listed[0].find_element(By.CSS_SELECTOR, "a.receipt"))
    assert browser.find_element(By.ID, "receipt-status").text == "settled"
    gas = browser.find_element(By.ID, "receipt-gas")
    assert (int(gas.get_attribute("data-batch-gas")), int(gas.get_attribute("data-batch-size"))) == (
        batch_gas,
        2,
    )
    tx = browser.find_element(By.CSS_SELECTOR, "#receipt-tx a.hash").get_attribute("title")
    assert tx.removeprefix("0x") == world.settle_tx.removeprefix("0x")
    # the client signed PRICE - 0 and PRICE - 1 wei; each order's nonce is spent on chain
    order = browser.find_element(By.ID, "receipt-order").text
    i = [o.hex() for o in world.receipt_orders].index(order)
    assert (
        _wei(browser.find_element(By.ID, "receipt-price"))
        == world.suite.models.read_model(world.zk_model).price - i
    )
    node = world.subnet.node_accts[0].address
    assert rm.nonce_used(world.suite.market.read_job(world.settled_job).client, node, i + 1)
    assert _wei(browser.find_element(By.ID, "receipt-deposit")) == rm.deposit_of(
        world.suite.market.read_job(world.settled_job).client, node
    )
    # to the node, whose page lists both receipt jobs
    _go(browser, browser.find_element(By.CSS_SELECTOR, "#receipt-node a"))
    assert browser.find_element(By.ID, "node-address").text == node
    assert {
        r.get_attribute("data-order")
        for r in browser.find_elements(By.CSS_SELECTOR, "table.receipt-jobs tr[data-order]")
    } == orders


def test_agent_wallet_caps(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    st = world.agent_wallet.state()
    browser.get(site + "/agents")
    _go(browser, browser.find_element(By.CSS_SELECTOR, f'a[href="/agent/{world.agent_id}"]'))
    assert _h1(browser) == f"Agent #{world.agent_id}"
    caps = browser.find_element(By.ID, "agent-caps")
    assert (int(caps.get_attribute("data-per-payment")), int(caps.get_attribute("data-daily"))) == (
        st.per_payment_cap, st.daily_cap,
    ) == (10**18, 5 * 10**18)  # fmt: skip
    assert _wei(browser.find_element(By.ID, "agent-balance")) == st.balance


def test_dataset_versions_and_revocations(browser: Any, site: str, world: ExplorerWorld) -> None:
    from selenium.webdriver.common.by import By

    dr = world.suite.data
    browser.get(site + "/data")
    _go(browser, browser.find_element(By.CSS_SELECTOR, f'tr[data-dataset="{world.data_set}"] a.dataset'))
    assert _h1(browser) == f"Dataset #{world.data_set}"
    assert _wei(browser.find_element(By.ID, "data-price")) == dr.read_dataset(world.data_set).price
    revoked = [dr.read_record(world.data_set, r).revoked for r in world.data_records]
    assert revoked == [True, False]
    recs = browser.find_element(By.ID, "data-records")
    assert (int(recs.get_attribute("data-records")), int(recs.get_attribute("data-revoked"))) == (
        2,
        sum(revoked),
    )
    for r, rv in zip(world.data_records, revoked, strict=True):
        state = browser.find_element(
            By.CSS_SELECTOR, f'#data-consents tr[data-record="{r.hex()}"] .state'
        ).text
        assert state.startswith("revoked" if rv else "consented")
    v = dr.read_version(world.data_version)
    row = browser.find_element(By.CSS_SELECTOR, f'#data-versions tr[data-version="{world.data_version}"]')
    assert int(row.find_element(By.CSS_SELECTOR, ".count").text) == v.record_count == 2
    root = row.find_element(By.CSS_SELECTOR, ".root a").get_attribute("title")
    assert root.removeprefix("0x") == v.record_root.removeprefix("0x")
    assert int(row.find_element(By.CSS_SELECTOR, ".revoked").text) == v.revoked_count


def test_dao_proposal_votes_and_execution(browser: Any, site: str, world: ExplorerWorld, shots: Path) -> None:
    """The DAO list shows the proposal; its page shows the governor's state, votes, eta and the executed action."""
    from selenium.webdriver.common.by import By

    g = world.dao.governor
    pid = world.proposal_id
    against, for_, abstain = g.votes(pid)
    assert for_ > 0  # the world's voter voted for it
    browser.get(f"{site}/dao")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-proposal="{pid}"]')
    assert row.find_element(By.CLASS_NAME, "state").text == g.state(pid).name.lower() == "executed"
    assert _wei(row.find_element(By.CLASS_NAME, "for")) == for_
    _go(browser, row.find_element(By.CSS_SELECTOR, "a.proposal"))
    votes = browser.find_element(By.ID, "proposal-votes")
    shown = tuple(int(votes.get_attribute(f"data-{k}")) for k in ("against", "for", "abstain"))
    assert shown == (against, for_, abstain)
    assert int(browser.find_element(By.ID, "proposal-eta").get_attribute("data-eta")) == g.eta(pid) > 0
    assert browser.find_element(By.ID, "proposal-executed").text != "no"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#proposal-actions .calldata")) == 1
    events = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#proposal-events .event")]
    assert events == ["ProposalCreated", "VoteCast", "ProposalQueued", "ProposalExecuted"]
    browser.save_screenshot(str(shots / "explorer-dao.png"))


def test_dao_grant_milestones(browser: Any, site: str, world: ExplorerWorld, shots: Path) -> None:
    """The grant's recipient, escrow and released milestones are the Grants contract's."""
    from selenium.webdriver.common.by import By

    g = world.dao.grants.grant(world.grant_id)
    released = [m for m in g.milestones if m.released]
    assert len(released) == 1 and g.escrowed == 20 * 10**18
    browser.get(f"{site}/dao")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-grant="{world.grant_id}"]')
    assert _wei(row.find_element(By.CLASS_NAME, "escrowed")) == g.escrowed
    assert int(row.find_element(By.CLASS_NAME, "released").get_attribute("data-released")) == len(released)
    _go(browser, row.find_element(By.CSS_SELECTOR, "a.grant"))
    assert (
        g.recipient.lower() in browser.find_element(By.ID, "grant-facts").get_attribute("innerHTML").lower()
    )
    assert _wei(browser.find_element(By.ID, "grant-escrowed")) == g.escrowed
    states = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#grant-milestones .state")]
    assert states == ["released" if m.released else "escrowed" for m in g.milestones]
    events = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#grant-events .event")]
    assert events == ["GrantCreated", "MilestoneReleased"]
    browser.save_screenshot(str(shots / "explorer-grant.png"))


def test_pipeline_stages_link_to_models(browser: Any, site: str, world: ExplorerWorld) -> None:
    """A registered pipeline shows the PipelineMarket's stage models and links to each model's page."""
    from selenium.webdriver.common.by import By

    pm = world.suite.pipelines
    assert pm is not None
    models = pm.pipeline_models(world.pipeline_id)
    browser.get(f"{site}/pipelines")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-pipeline="{world.pipeline_id}"]')
    assert row.find_element(By.CLASS_NAME, "models").get_attribute("data-models") == ",".join(
        map(str, models)
    )
    _go(browser, row.find_element(By.CSS_SELECTOR, "a.pipeline"))
    shown = browser.find_element(By.ID, "pipeline-models").get_attribute("data-models")
    assert shown == ",".join(map(str, models))
    _go(browser, browser.find_element(By.CSS_SELECTOR, "a.stage-model"))
    assert str(models[0]) in _h1(browser)
    back = browser.find_element(By.CSS_SELECTOR, "#model-pipelines a.pipeline")  # and the model links back
    assert back.get_attribute("href").endswith(f"/pipeline/{world.pipeline_id}")
