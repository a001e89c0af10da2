"""The explorer's web app: server-rendered pages (FastAPI + Jinja2) read from the indexer's SQLite.

Pages never scan the chain: they read the index (:mod:`veilproof.explorer.indexer`). Two things
read the chain on request, because they must be live: the overview's current epoch and the job
page's "verify again", which fetches the proof the node posted and runs it through the on-chain
EZKL verifier with the model's registered VKA (an ``eth_call``: nothing is sent, nothing is paid).

Lists are plural (``/jobs``), one item's page singular (``/job/{id}``), like Etherscan's ``/tx/``: the
node's HTTP API owns ``/jobs/...`` (``tests/test_architecture.py`` keeps that spelling in ``protocol``).

Adding a page (datasets, DAO proposals, ...): write a handler that renders a template, register its
route in :func:`create_app` and append a :class:`Page` to :data:`PAGES` for the navigation bar.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import Table, desc, func, or_, select

from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.job_market import JobMarket
from veilproof.chain.suite import Suite
from veilproof.errors import ConfigError, VeilproofError
from veilproof.explorer import indexer as ix
from veilproof.explorer.indexer import Indexer, rows
from veilproof.explorer.svg import LineageNode, heatmap_svg, lineage_svg

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Page:
    """One entry of the navigation bar."""

    path: str
    title: str


PAGES: list[Page] = [
    Page("/", "Overview"),
    Page("/models", "Models"),
    Page("/nodes", "Nodes"),
    Page("/jobs", "Jobs"),
    Page("/epochs", "Epochs"),
    Page("/agents", "Agents"),
    Page("/training", "Training"),
    Page("/data", "Data"),
    Page("/dao", "DAO"),
    Page("/pipelines", "Pipelines"),
]


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of "verify again" for one job."""

    job_id: int
    valid: bool
    message: str
    proof_bytes: int = 0
    proof_hash_matches: bool = False
    block: int = 0


def verify_again(suite: Suite, job_id: int) -> VerifyResult:
    """Re-check job ``job_id``'s posted proof now: the proof and public instances come from the
    node's ``submit_zk_result`` calldata, and the check is EZKL's Halo2 verifier on chain (through
    ZkVerifierAdapter) with the VKA registered for the job's model. Also checks that the proof
    hashes to the ``proof_hash`` the market stored when it paid."""
    job = suite.market.read_job(job_id)
    block = suite.net.head()
    adapter = suite.zk_adapter
    if job.mode != 1:
        return VerifyResult(
            job_id, False, "an FHE job carries no proof (its result is disputed by the quorum)"
        )
    if adapter is None:
        return VerifyResult(job_id, False, "no ZK verifier is deployed on this network")
    posted = suite.market.submitted_proof(job_id)
    if posted is None:
        return VerifyResult(job_id, False, "no proof was accepted on chain for this job", block=block)
    proof, instances = posted
    hash_ok = JobMarket.proof_hash(proof) == job.proof_hash
    ok = adapter.verify(job.model_id, proof, instances) and hash_ok
    if ok:
        msg = f"valid: the on-chain EZKL verifier accepted the proof with model {job.model_id}'s VKA"
    elif not hash_ok:
        msg = "invalid: the posted proof does not hash to the job's recorded proof hash"
    else:
        msg = f"invalid: the on-chain EZKL verifier rejected the proof for model {job.model_id}"
    return VerifyResult(job_id, ok, msg, len(proof), hash_ok, block)


# --- formatting ---------------------------------------------------------------------------------
def veil(wei: int | None) -> Markup:
    """An amount in VEIL (4 decimals shown), exact wei in ``data-wei`` and the tooltip."""
    w = int(wei or 0)
    return Markup(f'<span class="amt" data-wei="{w}" title="{w} wei">{w / ONE_VEIL:,.4f} VEIL</span>')


def short(x: str) -> str:
    x = str(x)
    return x if len(x) <= 14 else f"{x[:8]}…{x[-4:]}"


def addr_link(a: str | None) -> Markup:
    if not a:
        return Markup("—")
    return Markup(f'<a class="addr" href="/address/{escape(a)}" title="{escape(a)}">{escape(short(a))}</a>')


def hash_link(h: str | None) -> Markup:
    if not h or set(str(h).removeprefix("0x")) <= {"0"}:
        return Markup('<span class="none">—</span>')
    h = str(h)
    return Markup(f'<a class="hash" href="/hash/{escape(h)}" title="{escape(h)}">{escape(short(h))}</a>')


def ts(t: int | None) -> str:
    return "—" if not t else datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%d %H:%M:%S")


def training_job_of(uri: str, market: str | None) -> int | None:
    """The TrainingMarket job a dataset URI names (``trainingmarket:<market>/<job>?rounds=N``, what
    :func:`veilproof.fl.publish.publish_trained` registers), when ``market`` is the one indexed."""
    prefix = "trainingmarket:"
    if not market or not uri.startswith(prefix):
        return None
    addr, _, rest = uri[len(prefix) :].partition("/")
    job = rest.split("?", 1)[0]
    return int(job) if addr.lower() == market.lower() and job.isdigit() else None


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters.update(veil=veil, short=short, addr=addr_link, hash=hash_link, ts=ts)
    env.globals.update(pages=PAGES)
    return env


# --- the app ------------------------------------------------------------------------------------
def create_app(indexer: Indexer, *, sync_on_request: bool = False) -> FastAPI:
    """The explorer for ``indexer``'s network. ``sync_on_request``: index up to the head before each
    page (tests and small chains); otherwise run :meth:`Indexer.follow` beside the app."""
    app = FastAPI(title="veilproof explorer", docs_url=None, redoc_url=None, openapi_url=None)
    env = _env()
    eng = indexer.engine
    suite = indexer.suite

    def render(name: str, request: Request, **ctx: Any) -> HTMLResponse:
        if sync_on_request:
            indexer.sync()
        ctx.update(path=request.url.path, last_block=indexer.last_block(), chain_id=suite.net.chain_id)
        return HTMLResponse(env.get_template(name).render(**ctx))

    def one(stmt: Any) -> dict[str, Any]:
        r = rows(eng, stmt)
        if not r:
            raise HTTPException(404, "not in the index")
        return r[0]

    def matching(table: Table, *order: str, **equal: Any) -> list[dict[str, Any]]:
        """The rows of ``table`` whose columns equal ``equal``, ordered by the columns named in ``order``:
        the one query every list and detail page runs, said once instead of spelled out per page."""
        stmt = select(table).where(*(table.c[k] == v for k, v in equal.items()))
        return rows(eng, stmt.order_by(*(table.c[o] for o in order)))

    def single(table: Table, **equal: Any) -> dict[str, Any]:
        """The one row of ``table`` whose columns equal ``equal``, or the 404 page."""
        return one(select(table).where(*(table.c[k] == v for k, v in equal.items())))

    def events_about(contract: str, key: str, value: Any) -> list[dict[str, Any]]:
        """``contract``'s indexed events whose argument ``key`` is ``value`` (compared as text: a uint256
        id may be stored as a string), in chain order."""
        evs = matching(ix.events_t, "block", "log_index", contract=contract)
        return [e for e in evs if str(json.loads(e["args"]).get(key)) == str(value)]

    @app.exception_handler(HTTPException)
    async def not_found(request: Request, exc: HTTPException) -> HTMLResponse:
        html = env.get_template("error.html").render(
            path=request.url.path, status=exc.status_code, detail=exc.detail, last_block=indexer.last_block(),
            chain_id=suite.net.chain_id,
        )  # fmt: skip
        return HTMLResponse(html, status_code=exc.status_code)

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> HTMLResponse:
        if sync_on_request:
            indexer.sync()
        jobs = matching(ix.jobs_t)
        settled = [j for j in jobs if j["status"] == "settled"]
        nodes = matching(ix.nodes_t)
        try:
            epoch: int | None = suite.rewards.current_epoch()
        except VeilproofError:
            epoch = None
        stats = {
            "models": len(rows(eng, select(ix.models_t.c.model_id))),
            "nodes": len(nodes),
            "jobs": len(jobs),
            "settled": len(settled),
            "slashed_jobs": sum(j["status"] == "slashed" for j in jobs),
            "volume": sum(int(j["price"]) for j in settled),
            "slashes": sum(int(n["slashes"] or 0) for n in nodes),
            "slashed_amount": sum(int(n["slashed_total"] or 0) for n in nodes),
            "emissions": sum(int(n["emissions"] or 0) for n in nodes),
            "epochs": len(rows(eng, select(ix.epochs_t.c.epoch))),
            "agents": len(rows(eng, select(ix.agents_t.c.agent_id))),
        }
        recent = rows(eng, select(ix.jobs_t).order_by(desc(ix.jobs_t.c.job_id)).limit(10))
        return render("overview.html", request, stats=stats, epoch=epoch, recent=recent)

    # models ----------------------------------------------------------------------------------------
    @app.get("/models", response_class=HTMLResponse)
    def models(request: Request) -> HTMLResponse:
        ms = matching(ix.models_t, "model_id")
        counts = dict(
            (r["model_id"], r["n"])
            for r in rows(
                eng, select(ix.jobs_t.c.model_id, func.count().label("n")).group_by(ix.jobs_t.c.model_id)
            )
        )
        for m in ms:
            m["parents"], m["datasets"], m["jobs"] = (
                json.loads(m["parents"]),
                json.loads(m["datasets"]),
                counts.get(m["model_id"], 0),
            )
        return render("models.html", request, models=ms)

    @app.get("/model/{model_id}", response_class=HTMLResponse)
    def model(request: Request, model_id: int) -> HTMLResponse:
        m = single(ix.models_t, model_id=model_id)
        all_models = {r["model_id"]: r for r in matching(ix.models_t)}
        parents = {k: json.loads(v["parents"]) for k, v in all_models.items()}
        children: dict[int, list[int]] = {}
        for k, ps in parents.items():
            for p in ps:
                children.setdefault(p, []).append(k)
        # the family: every ancestor and every descendant of this model (not its siblings)
        family = {model_id}
        for links in (parents, children):
            todo = [model_id]
            while todo:
                for n in links.get(todo.pop(), []):
                    if n not in family:
                        family.add(n)
                        todo.append(n)
        nodes_: list[LineageNode] = []
        edges: list[tuple[str, str]] = []
        ds_ids: set[int] = set()
        for k in sorted(family):
            mk = all_models.get(k)
            name = mk["name"] if mk else "?"
            nodes_.append(
                LineageNode(f"m{k}", f"#{k} {name}", f"/model/{k}", "focus" if k == model_id else "model")
            )
            edges += [(f"m{p}", f"m{k}") for p in parents.get(k, [])]
            for d in json.loads(mk["datasets"]) if mk else []:
                ds_ids.add(d)
                edges.append((f"d{d}", f"m{k}"))
        datasets = {r["dataset_id"]: r for r in matching(ix.datasets_t)}
        market = ix_training_address()
        for r in datasets.values():
            r["training_job"] = training_job_of(r["uri"] or "", market)
        for d in sorted(ds_ids):
            uri = datasets.get(d, {}).get("uri", "")
            tj = datasets.get(d, {}).get("training_job")
            nodes_.append(
                LineageNode(f"d{d}", f"training job #{tj}", f"/training/{tj}", "dataset")
                if tj is not None
                else LineageNode(
                    f"d{d}",
                    f"dataset {d} {uri}",
                    f"/hash/{datasets.get(d, {}).get('merkle_root', '')}",
                    "dataset",
                )
            )
        jobs = matching(ix.jobs_t, "job_id", model_id=model_id)
        servers = [n for n in matching(ix.nodes_t) if model_id in json.loads(n["models"] or "[]")]
        m["parents"], m["datasets"] = parents.get(model_id, []), json.loads(m["datasets"])
        m["children"] = sorted(children.get(model_id, []))
        in_pipelines = [
            p["pipeline_id"]
            for p in matching(ix.pipelines_t, "pipeline_id")
            if model_id in json.loads(p["models"])
        ]
        return render(
            "model.html", request, m=m, svg=lineage_svg(nodes_, edges), jobs=jobs, servers=servers,
            datasets=[datasets[d] for d in m["datasets"] if d in datasets], in_pipelines=in_pipelines,
        )  # fmt: skip

    def ix_training_address() -> str | None:
        return indexer.training.address if indexer.training is not None else None

    # nodes -------------------------------------------------------------------------------------------
    def _node_stats(n: dict[str, Any]) -> dict[str, Any]:
        js = rows(eng, select(ix.jobs_t.c.status).where(ix.jobs_t.c.node == n["address"]))
        done = [j for j in js if j["status"] in ("settled", "slashed", "refunded")]
        n["jobs"] = len(js)
        n["settled"] = sum(j["status"] == "settled" for j in js)
        n["success"] = (n["settled"] / len(done)) if done else None
        n["models"] = json.loads(n["models"] or "[]")
        r = matching(ix.reputation_t, subject=n["address"])
        n["rep"] = r[0] if r else None
        # audits passed: ZK results the on-chain verifier accepted, FHE results no validator refuted
        n["audits"] = n["settled"]
        return n

    @app.get("/nodes", response_class=HTMLResponse)
    def nodes(request: Request) -> HTMLResponse:
        ns = [_node_stats(n) for n in matching(ix.nodes_t, "block")]
        return render("nodes.html", request, nodes=ns)

    @app.get("/node/{address}", response_class=HTMLResponse)
    def node(request: Request, address: str) -> HTMLResponse:
        n = _node_stats(one(select(ix.nodes_t).where(func.lower(ix.nodes_t.c.address) == address.lower())))
        jobs = matching(ix.jobs_t, "job_id", node=n["address"])
        em = matching(ix.node_emissions_t, node=n["address"])
        evs = matching(ix.events_t, "id", subject=n["address"], contract="NodeRegistry")
        fb = matching(ix.feedback_t, "feedback_id", subject=n["address"])
        rj = matching(ix.receipt_jobs_t, "block", node=n["address"])
        return render(
            "node.html", request, n=n, jobs=jobs, emissions=em, events=evs, feedback=fb, receipt_jobs=rj
        )

    # jobs ----------------------------------------------------------------------------------------------
    @app.get("/jobs", response_class=HTMLResponse)
    def jobs(request: Request) -> HTMLResponse:
        js = rows(eng, select(ix.jobs_t).order_by(desc(ix.jobs_t.c.job_id)))
        rj = rows(eng, select(ix.receipt_jobs_t).order_by(desc(ix.receipt_jobs_t.c.block)))
        return render("jobs.html", request, jobs=js, receipt_jobs=rj)

    @app.get("/receipt/{order_hash}", response_class=HTMLResponse)
    def receipt_job(request: Request, order_hash: str) -> HTMLResponse:
        oh = order_hash.lower().removeprefix("0x")
        r = single(ix.receipt_jobs_t, order_hash=oh)
        evs = rows(
            eng,
            select(ix.events_t)
            .where(
                ix.events_t.c.contract == "ReceiptMarket",
                or_(ix.events_t.c.args.like(f'%"0x{oh}"%'), ix.events_t.c.tx_hash == r["tx_hash"]),
            )
            .order_by(ix.events_t.c.id),
        )
        dep = matching(ix.deposits_t, client=r["client"], node=r["node"])
        return render("receipt_job.html", request, r=r, events=evs, deposit=dep[0] if dep else None)

    def _job_page(request: Request, job_id: int, result: VerifyResult | None) -> HTMLResponse:
        j = single(ix.jobs_t, job_id=job_id)
        timeline = matching(ix.events_t, "id", job_id=job_id)
        for e in timeline:
            e["args"] = json.loads(e["args"])
        m = matching(ix.models_t, model_id=j["model_id"])
        return render("job.html", request, j=j, timeline=timeline, model=m[0] if m else None, result=result)

    @app.get("/job/{job_id}", response_class=HTMLResponse)
    def job(request: Request, job_id: int) -> HTMLResponse:
        return _job_page(request, job_id, None)

    @app.post("/job/{job_id}/verify", response_class=HTMLResponse)
    def verify(request: Request, job_id: int) -> HTMLResponse:
        one(select(ix.jobs_t.c.job_id).where(ix.jobs_t.c.job_id == job_id))
        return _job_page(request, job_id, verify_again(suite, job_id))

    # epochs -----------------------------------------------------------------------------------------------
    @app.get("/epochs", response_class=HTMLResponse)
    def epochs(request: Request) -> HTMLResponse:
        es = rows(eng, select(ix.epochs_t).order_by(desc(ix.epochs_t.c.epoch)))
        return render("epochs.html", request, epochs=es)

    @app.get("/epoch/{epoch}", response_class=HTMLResponse)
    def epoch(request: Request, epoch: int) -> HTMLResponse:
        e = single(ix.epochs_t, epoch=epoch)
        ws = matching(ix.weights_t, epoch=epoch)
        ne = matching(ix.node_emissions_t, epoch=epoch)
        ve = matching(ix.validator_emissions_t, epoch=epoch)
        nodes_ = {n["address"]: n for n in matching(ix.nodes_t)}
        for r in ne:
            r["subnet_index"] = nodes_.get(r["node"], {}).get("subnet_index")
        # weight rows are indexed by subnet slot: columns follow the nodes' subnet index (as indexed now)
        ne.sort(key=lambda r: (r["subnet_index"] is None, r["subnet_index"] or 0))
        cols = [(f"/node/{r['node']}", short(r["node"])) for r in ne]
        cons = [int(r["consensus"]) for r in ne]
        weights = {w["validator"]: json.loads(w["weights"]) for w in ws}
        vals = [(w["validator"], short(w["validator"])) for w in ws]
        svg = heatmap_svg(vals, cols, weights, cons if ne else None)
        return render("epoch.html", request, e=e, weights=ws, node_em=ne, val_em=ve, svg=svg)

    # agents -------------------------------------------------------------------------------------------------
    @app.get("/agents", response_class=HTMLResponse)
    def agents(request: Request) -> HTMLResponse:
        caps = {r["wallet"]: r for r in matching(ix.wallets_t)}
        ags = matching(ix.agents_t, "agent_id")
        for a in ags:
            a["caps"] = caps.get(a["wallet"])
        return render("agents.html", request, agents=ags)

    @app.get("/agent/{agent_id}", response_class=HTMLResponse)
    def agent(request: Request, agent_id: int) -> HTMLResponse:
        a = single(ix.agents_t, agent_id=agent_id)
        evs = rows(
            eng,
            select(ix.events_t)
            .where(
                ix.events_t.c.contract == "AgentRegistry",
                ix.events_t.c.args.like(f'%"agent_id": {agent_id}%'),
            )
            .order_by(ix.events_t.c.id),
        )
        w = matching(ix.wallets_t, wallet=a["wallet"]) if a["wallet"] else []
        return render("agent.html", request, a=a, events=evs, w=w[0] if w else None)

    # federated training (TrainingMarket) ------------------------------------------------------------------
    @app.get("/training", response_class=HTMLResponse)
    def training_list(request: Request) -> HTMLResponse:
        js = rows(eng, select(ix.training_jobs_t).order_by(desc(ix.training_jobs_t.c.job_id)))
        return render("training_jobs.html", request, jobs=js, market=ix_training_address())

    @app.get("/training/{job_id}", response_class=HTMLResponse)
    def training_job(request: Request, job_id: int) -> HTMLResponse:
        j = single(ix.training_jobs_t, job_id=job_id)
        rnds = matching(ix.training_rounds_t, "round", job_id=job_id)
        for r in rnds:
            r["members"] = list(
                zip(json.loads(r["participants"]), [int(x) for x in json.loads(r["scores"])], strict=True)
            )
        members = matching(ix.training_members_t, "role", "account", job_id=job_id)
        market = ix_training_address()
        published = [
            m
            for m in matching(ix.models_t, "model_id")
            if any(
                training_job_of(d["uri"] or "", market) == job_id
                for d in rows(
                    eng,
                    select(ix.datasets_t).where(ix.datasets_t.c.dataset_id.in_(json.loads(m["datasets"]))),
                )
            )
        ]
        return render("training_job.html", request, j=j, rounds=rnds, members=members, published=published)

    # consented data (DataRegistry) --------------------------------------------------------------------------
    @app.get("/data", response_class=HTMLResponse)
    def data_sets(request: Request) -> HTMLResponse:
        ds = matching(ix.data_sets_t, "dataset_id")
        return render("data_sets.html", request, datasets=ds)

    @app.get("/data/{dataset_id}", response_class=HTMLResponse)
    def data_set(request: Request, dataset_id: int) -> HTMLResponse:
        d = single(ix.data_sets_t, dataset_id=dataset_id)
        vs = matching(ix.data_versions_t, "version_id", dataset_id=dataset_id)
        cs = matching(ix.data_consents_t, "block", "record_hash", dataset_id=dataset_id)
        return render("data_set.html", request, d=d, versions=vs, consents=cs)

    # DAO (VeilGovernor) ---------------------------------------------------------------------------------------
    @app.get("/dao", response_class=HTMLResponse)
    def dao(request: Request) -> HTMLResponse:
        ps = matching(ix.proposals_t, "block", "proposal_id")
        gs = matching(ix.grants_t, "grant_id")
        return render("dao.html", request, proposals=ps, grants=gs)

    @app.get("/dao/grant/{grant_id}", response_class=HTMLResponse)
    def grant(request: Request, grant_id: int) -> HTMLResponse:
        g = single(ix.grants_t, grant_id=grant_id)
        evs = events_about("Grants", "grant_id", grant_id)
        return render("grant.html", request, g=g, milestones=json.loads(g["milestones"] or "[]"), events=evs)

    @app.get("/dao/proposal/{proposal_id}", response_class=HTMLResponse)
    def proposal(request: Request, proposal_id: str) -> HTMLResponse:
        p = single(ix.proposals_t, proposal_id=proposal_id)
        evs = events_about("VeilGovernor", "proposalId", proposal_id)
        return render("proposal.html", request, p=p, actions=json.loads(p["actions"] or "[]"), events=evs)

    # PipelineMarket (chained ZK stages) ------------------------------------------------------------------------
    @app.get("/pipelines", response_class=HTMLResponse)
    def pipelines(request: Request) -> HTMLResponse:
        ps = matching(ix.pipelines_t, "pipeline_id")
        for p in ps:
            p["models"] = json.loads(p["models"])
        js = matching(ix.pipeline_jobs_t, "job_id")
        return render("pipelines.html", request, pipelines=ps, jobs=js)

    @app.get("/pipeline/{pipeline_id}", response_class=HTMLResponse)
    def pipeline(request: Request, pipeline_id: int) -> HTMLResponse:
        p = single(ix.pipelines_t, pipeline_id=pipeline_id)
        p["models"] = json.loads(p["models"])
        js = matching(ix.pipeline_jobs_t, "job_id", pipeline_id=pipeline_id)
        for j in js:
            j["stages"] = list(
                zip(json.loads(j["stage_models"]), json.loads(j["stage_nodes"]),
                    json.loads(j["stage_proof_hashes"]), strict=False)
            )  # fmt: skip
        return render("pipeline.html", request, p=p, jobs=js)

    # addresses and hashes: every link lands somewhere ------------------------------------------------------
    @app.get("/address/{address}", response_model=None)
    def address(request: Request, address: str) -> Response:
        low = address.lower()
        if rows(eng, select(ix.nodes_t.c.address).where(func.lower(ix.nodes_t.c.address) == low)):
            return RedirectResponse(f"/node/{address}", status_code=303)
        v = rows(eng, select(ix.validators_t).where(func.lower(ix.validators_t.c.address) == low))
        as_client = rows(eng, select(ix.jobs_t).where(func.lower(ix.jobs_t.c.client) == low))
        owned = rows(eng, select(ix.models_t).where(func.lower(ix.models_t.c.owner) == low))
        evs = rows(
            eng,
            select(ix.events_t)
            .where(or_(func.lower(ix.events_t.c.subject) == low, func.lower(ix.events_t.c.address) == low))
            .order_by(desc(ix.events_t.c.id))
            .limit(200),
        )
        return render(
            "address.html", request, address=address, validator=v[0] if v else None, jobs=as_client,
            models=owned, events=evs,
        )  # fmt: skip

    @app.get("/hash/{h}", response_class=HTMLResponse)
    def hash_(request: Request, h: str) -> HTMLResponse:
        bare = h.lower().removeprefix("0x")
        jc = ix.jobs_t.c
        jobs_ = rows(eng, select(ix.jobs_t).where(or_(jc.proof_hash == bare, jc.output_hash == bare)))
        mc = ix.models_t.c
        hash_cols = [mc.onnx_hash, mc.zk_settings_hash, mc.zk_vk_hash, mc.zk_srs_hash, mc.fhe_client_hash,
                     mc.fhe_server_hash, mc.training_code_hash]  # fmt: skip
        models_ = rows(eng, select(ix.models_t).where(or_(*[c == bare for c in hash_cols])))
        ds = matching(ix.datasets_t, merkle_root=bare)
        evs = rows(
            eng, select(ix.events_t).where(ix.events_t.c.tx_hash == "0x" + bare).order_by(ix.events_t.c.id)
        )
        return render("hash.html", request, h=h, jobs=jobs_, models=models_, datasets=ds, events=evs)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"last_block": indexer.last_block(), "chain_id": suite.net.chain_id}

    return app


class ExplorerServer:
    """The app served by uvicorn from a thread (the CLI, the demo and the browser tests)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        # Bind once here: a taken port is one clear error now, not a dead server thread later.
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError as e:
                raise ConfigError(
                    f"cannot listen on {host}:{port} ({e.strerror}): pass another --port"
                ) from e
            port = int(s.getsockname()[1])
        self.host, self.port = host, port
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", ws="none")
        )
        self.thread = threading.Thread(target=self.server.run, name="explorer-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ExplorerServer:
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            if time.monotonic() - t0 > timeout or not self.thread.is_alive():
                raise RuntimeError(f"the explorer did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_explorer(
    suite: Suite, db_path: str | Path, host: str = "127.0.0.1", port: int = 8090, interval: float = 2.0
) -> tuple[Indexer, ExplorerServer]:
    """Index ``suite``'s network into ``db_path`` (the agents' registry too when deployed), keep
    following it every ``interval`` seconds, and serve the pages on ``host:port`` (0: any free port).
    The caller stops both (``server.stop()``, ``indexer.stop()``)."""
    indexer = Indexer.for_suite(suite, db_path)
    indexer.sync()
    indexer.follow(interval)
    server = ExplorerServer(create_app(indexer), host, port).start()
    return indexer, server
