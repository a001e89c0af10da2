"""``veilproof infer | jobs | models | nodes``: the buyer's commands."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    amount,
    attach_suite,
    console,
    emit_json,
    engine_output,
    failing,
    load_account,
    open_network,
    paths,
)
from veilproof.errors import InputError

if TYPE_CHECKING:
    from veilproof.chain.job_market import OnchainJob
    from veilproof.client import Client


def _client(home: str | None, chain_url: str | None, account: str) -> Client:
    from veilproof.client import Client

    p = paths(home)
    net = open_network(p, chain_url)
    suite = attach_suite(p, net)
    return Client(suite, load_account(p, account), p.home / "client")


def infer(
    model: int = typer.Option(..., "--model", help="Model id."),
    input_file: Path = typer.Option(
        ..., "--input", help="JSON file with the input vector (list of numbers)."
    ),
    private: bool = typer.Option(False, "--private", help="FHE: the node never sees input or output."),
    node: str | None = typer.Option(None, help="Use this node address."),
    eager: bool | None = typer.Option(
        None,
        "--eager/--pay-on-proof",
        help="ZK: --eager pays through JobMarket escrow, the chain verifying the proof (~1M gas a job); "
        "--pay-on-proof verifies it here and signs a receipt the node settles in a batch (no proof on "
        "chain). Default: pay-on-proof when the deployment has a ReceiptMarket, else eager.",
    ),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Pay for one inference; verify (ZK) or decrypt (FHE) the answer."""
    with failing():
        try:
            x = json.loads(input_file.read_text())
        except (OSError, ValueError) as e:
            raise InputError("--input", "a JSON file holding a list of numbers", str(input_file)) from e
        c = _client(home, chain_url, account)
        count = c.suite.models.model_count()
        if not 1 <= model <= count:
            raise InputError("--model", f"a model id from 1 to {count} (see `veilproof models`)", model)
        with engine_output(paths(home)), console.status("running inference…") as status:
            on_chain = eager if eager is not None else c.suite.receipts is None
            r = c.infer(model, x, private=private, node=node, progress=status.update, eager=on_chain)
    if json_out:
        emit_json(r.__dict__)
        return
    console.print(f"job {r.job_id} ({r.mode}) on node {r.node}: [bold]{r.status}[/]")
    console.print(f"output: {[round(v, 4) for v in r.output]}")


def _show(
    fetch: Callable[[Client], list[Any]],
    columns: tuple[str, ...],
    cells: Callable[[Any], tuple[str, ...]],
    home: str | None,
    chain_url: str | None,
    account: str,
    json_out: bool,
    as_json: Callable[[Any], dict[str, Any]] = lambda r: r.__dict__,
) -> None:
    """Fetch rows through the SDK, then print them as JSON or as a table: one path for the list commands."""
    with failing():
        rows = fetch(_client(home, chain_url, account))
    if json_out:
        emit_json([as_json(r) for r in rows])
        return
    t = Table(*columns)
    for r in rows:
        t.add_row(*cells(r))
    console.print(t)


def _refund_note(job: OnchainJob, now: int) -> str:
    """When the client can take the escrow back: only an OPEN job, once its deadline has passed."""
    from veilproof.chain.job_market import JobStatus

    if job.status != JobStatus.OPEN:
        return ""
    if now > job.deadline:
        return f"now: `veilproof refund {job.job_id}`"
    at = datetime.fromtimestamp(job.deadline + 1, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"after {at} (in {_span(job.deadline + 1 - now)})"


def _chain_now(c: Client) -> int:
    """The time the next block will carry: a dev chain's latest block can be hours old when idle (anvil and
    the embedded chain stamp a new block with the wall clock), and a chain moved forward is ahead of it."""
    return max(c.net.now(), int(time.time()))


def _span(seconds: int) -> str:
    m, s = divmod(max(seconds, 0), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def jobs(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Your jobs, their on-chain status, and which can be refunded and when."""
    now: list[int] = []

    def fetch(c: Client) -> list[Any]:
        now.append(_chain_now(c))
        return c.jobs()

    _show(
        fetch,
        ("job", "model", "mode", "node", "price (VEIL)", "status", "refund"),
        lambda j: (str(j.job_id), str(j.model_id), "zk" if j.mode == 1 else "fhe", j.node, amount(j.price),
                   j.status_name, _refund_note(j, now[0])),
        home, chain_url, account, json_out,
        as_json=lambda j: {**j.__dict__, "status_name": j.status_name,
                           "refundable_at": j.deadline + 1 if j.status == 1 else None,
                           "refundable_now": j.status == 1 and now[0] > j.deadline},
    )  # fmt: skip


def refund(
    job: int = typer.Argument(..., help="Job id (see `veilproof jobs`)."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Take back the escrow of your job that got no result by its deadline, and withdraw it."""
    from veilproof.chain.job_market import JobStatus

    with failing():
        c = _client(home, chain_url, account)
        if not 1 <= job <= c.suite.market.job_count():
            raise InputError("JOB", f"a job id from 1 to {c.suite.market.job_count()}", job)
        j = c.suite.market.read_job(job)
        if j.client.lower() != c.payer.address.lower():
            raise InputError(
                "JOB", f"a job of account {account!r} ({c.payer.address}); job {job} is {j.client}'s", job
            )
        if j.status != JobStatus.OPEN:
            raise InputError("JOB", f"an open job; job {job} is {j.status_name}: nothing to refund", job)
        now = _chain_now(c)
        if now <= j.deadline:
            raise InputError(
                "JOB", f"a job past its deadline; job {job} can be refunded {_refund_note(j, now)}", job
            )
        before = c.suite.market.pending(c.payer.address)
        tx = c.refund(job)  # refunds, then withdraws everything pending
    out = {
        "job_id": job,
        "refunded_veil": j.price / 1e18,
        "withdrawn_veil": (before + j.price) / 1e18,
        "tx": tx,
    }
    if json_out:
        emit_json(out)
        return
    console.print(
        f"job {job} refunded: {amount(j.price)} VEIL back to {c.payer.address} (tx {tx})", soft_wrap=True
    )


def models(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Models registered on chain, with their commitments."""
    _show(
        lambda c: c.models(),
        ("id", "name", "price (VEIL)", "zk", "fhe", "active", "owner"),
        lambda m: (str(m.model_id), m.name, amount(m.price), "✓" if m.has_zk else "", "✓" if m.has_fhe else "",
                   "✓" if m.active else "retired", m.owner),
        home, chain_url, account, json_out,
    )  # fmt: skip


def nodes(
    model: int = typer.Option(..., "--model"),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
    time_value: float = typer.Option(
        0.0, "--time-value", help="VEIL a second of waiting is worth to you (ranks faster nodes higher)."
    ),
    min_stake: float = typer.Option(0.0, "--min-stake", help="Hide nodes bonding less VEIL."),
    info_timeout: float = typer.Option(3.0, "--info-timeout", help="Seconds to wait for each node's /info."),
) -> None:
    """The offers for a model, best first: each active node's job price (the model owner's royalty plus
    the node's own price, or the list price), the royalty in it, the node's capacity and recent job time
    (from its /info; "-" when it did not answer), stake and reputation."""
    from veilproof.client.node_api import NodeApi
    from veilproof.client.selection import MarketPrefs, NodeOffer, rank_market, with_capacity
    from veilproof.protocol.http import http_client

    http = http_client(info_timeout)
    prefs = MarketPrefs(time_value=int(time_value * 10**18), min_stake=int(min_stake * 10**18))

    def fetch(c: Client) -> list[tuple[NodeOffer, int]]:
        m = c.suite.models.read_model(model)
        fee_bps = c.suite.market.fee_bps()
        offers = with_capacity(c.nodes(model), model, lambda o: NodeApi(o.endpoint, http=http).info())

        def royalty(o: NodeOffer) -> int:  # the owner's part of this node's job price (JobMarket._settle)
            if o.offer is not None:
                return m.price * m.royalty_bps // 10_000
            return (o.price - o.price * fee_bps // 10_000) * m.royalty_bps // 10_000

        return [(o, royalty(o)) for o in rank_market(offers, prefs)]

    def opt(v: float | int | None, fmt: str = "{}") -> str:
        return "-" if v is None else fmt.format(v)

    _show(
        fetch,
        ("node", "endpoint", "price (VEIL)", "royalty (VEIL)", "node offer", "job s (median)", "free slots",
         "workers", "stake (VEIL)", "reputation"),
        lambda r: (r[0].address, r[0].endpoint, amount(r[0].price), amount(r[1]),
                   "list price" if r[0].offer is None else amount(r[0].offer), opt(r[0].median_job_s, "{:.2f}"),
                   opt(r[0].free_slots), opt(r[0].workers), amount(r[0].stake), f"{r[0].reputation:g}"),
        home, chain_url, account, json_out,
        as_json=lambda r: {**r[0].__dict__, "pubkey": "0x" + r[0].pubkey.hex(), "royalty": r[1]},
    )  # fmt: skip
