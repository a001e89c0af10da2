"""``veilproof dao deploy|wrap|propose|vote|queue|execute|status|grants``: the DAO from a terminal.

A proposal is identified on chain by the hash of its actions and description, which ``queue`` and
``execute`` must repeat exactly; ``propose`` therefore records both in ``<home>/dao_proposals.json``
so the later steps take only the proposal id.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from web3 import Web3

from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.governor import (
    Action,
    Dao,
    DaoParams,
    Proposal,
    ProposalState,
    Vote,
    action,
    deploy_dao,
    hand_over,
)
from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    Session,
    amount,
    console,
    emit_json,
    failing,
    load_account,
    session,
)
from veilproof.config import Paths
from veilproof.errors import ConfigError, InputError

dao_app = typer.Typer(
    help="Govern the network: proposals, votes, the timelock, grants.", no_args_is_help=True
)


def _store(p: Paths) -> Path:
    return p.home / "dao_proposals.json"


def _load_proposals(p: Paths) -> dict[str, Any]:
    f = _store(p)
    return json.loads(f.read_text()) if f.is_file() else {}


def _proposal(p: Paths, pid: str) -> Proposal:
    rec = _load_proposals(p).get(str(pid))
    if rec is None:
        raise ConfigError(f"proposal {pid} was not made from this home ({_store(p)}): propose it here first")
    acts = tuple(Action(a["target"], bytes.fromhex(a["data"]), int(a["value"])) for a in rec["actions"])
    return Proposal(acts, rec["description"])


def _arg(text: str) -> Any:
    """A call argument from the command line: an address, true/false, or an integer (``100e18`` ok)."""
    if Web3.is_address(text):
        return Web3.to_checksum_address(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(Decimal(text))
    except ArithmeticError as e:
        raise InputError("argument", "an address, true/false or an integer", text) from e


def _dao(ctx: Session) -> Dao:
    return Dao.attach(ctx.net, ctx.suite.deployment)


@dao_app.command("deploy")
def deploy_cmd(
    dev: bool = typer.Option(
        False, "--dev", help="Short delays (60 s voting delay, 600 s period, 300 s timelock)."
    ),
    keep_admin: bool = typer.Option(False, "--keep-admin", help="Do not hand the admin powers over yet."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Deploy wVEIL, the timelock, the Governor and Grants; hand every admin power to the timelock."""
    with session(home, chain_url) as ctx:
        owner = load_account(ctx.paths, account)
        d = ctx.suite.deployment
        deploy_dao(ctx.net, owner, d, DaoParams.dev() if dev else DaoParams())
        handed = {} if keep_admin else hand_over(ctx.net, owner, d)
        d.save(ctx.paths.deployment)
    out = {k: d.extra[k] for k in ("wveil", "timelock", "governor", "grants")} | {
        "handed_over": sorted(handed)
    }
    if json_out:
        emit_json(out)
        return
    for k, v in out.items():
        console.print(f"{k}: {v}")


@dao_app.command("wrap")
def wrap_cmd(
    veil: float = typer.Argument(..., help="VEIL to deposit into wVEIL (votes; withdraw any time)."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Deposit VEIL into wVEIL and delegate the votes to yourself (they count from the next proposal)."""
    with failing():
        if veil <= 0:
            raise InputError("veil", "a positive amount", veil)
    with session(home, chain_url) as ctx:
        dao = _dao(ctx)
        acct = load_account(ctx.paths, account)
        units = int(Decimal(str(veil)) * ONE_VEIL)
        ctx.suite.token.approve(dao.votes.address, units, sender=acct)
        dao.votes.deposit(units, sender=acct)
        dao.votes.delegate(acct.address, sender=acct)
    console.print(f"{acct.address} has {amount(dao.votes.votes(acct.address))} votes")


@dao_app.command("propose")
def propose_cmd(
    contract: str = typer.Argument(
        ..., help="JobMarket, NodeRegistry, Rewards, FheQuorum, ReceiptMarket, PipelineMarket, Token."
    ),
    function: str = typer.Argument(..., help="The admin function, e.g. set_challenge_window."),
    args: list[str] = typer.Argument(None, help="Its arguments (addresses, integers, true/false)."),
    description: str = typer.Option(..., "--description", "-d", help="What and why (part of the id)."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Propose one admin call, executed by the timelock if the vote passes."""
    with session(home, chain_url) as ctx:
        p, dao = ctx.paths, _dao(ctx)
        acct = load_account(p, account)
        prop = Proposal(
            (action(dao.net, ctx.suite.deployment, contract, function, *[_arg(a) for a in args or []]),),
            description,
        )
        pid = dao.governor.propose(prop, sender=acct)
        store = _load_proposals(p)
        store[str(pid)] = {
            "description": description,
            "actions": [{"target": a.target, "data": a.data.hex(), "value": a.value} for a in prop.actions],
        }
        _store(p).write_text(json.dumps(store, indent=1))
    if json_out:
        emit_json(
            {
                "proposal_id": str(pid),
                "snapshot": dao.governor.snapshot(pid),
                "deadline": dao.governor.deadline(pid),
            }
        )
        return
    console.print(
        f"proposal {pid}\nvoting opens after {dao.governor.snapshot(pid)}, closes at {dao.governor.deadline(pid)}"
    )


@dao_app.command("vote")
def vote_cmd(
    proposal_id: str = typer.Argument(...),
    support: str = typer.Argument(..., help="for, against or abstain."),
    reason: str = typer.Option("", help="Recorded on chain with the vote."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Vote with your wVEIL votes as of the proposal's snapshot."""
    with failing():
        if support.lower() not in ("for", "against", "abstain"):
            raise InputError("support", "for, against or abstain", support)
    with session(home, chain_url) as ctx:
        dao = _dao(ctx)
        acct = load_account(ctx.paths, account)
        dao.governor.vote(int(proposal_id), Vote[support.upper()], sender=acct, reason=reason)
    a, f, ab = dao.governor.votes(int(proposal_id))
    console.print(f"for {amount(f)}  against {amount(a)}  abstain {amount(ab)}")


def _step(step: str, proposal_id: str, chain_url: str | None, home: str | None, account: str) -> None:
    with session(home, chain_url) as ctx:
        dao = _dao(ctx)
        acct = load_account(ctx.paths, account)
        prop = _proposal(ctx.paths, proposal_id)
        rcpt = getattr(dao.governor, step)(prop, sender=acct)
    console.print(f"{step}d: {dao.governor.state(int(proposal_id)).name.lower()} (gas {rcpt.gas_used})")


@dao_app.command("queue")
def queue_cmd(
    proposal_id: str = typer.Argument(...),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Queue a passed proposal in the timelock (it can execute after the delay)."""
    _step("queue", proposal_id, chain_url, home, account)


@dao_app.command("execute")
def execute_cmd(
    proposal_id: str = typer.Argument(...),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Execute a queued proposal once the timelock delay has passed (anyone may)."""
    _step("execute", proposal_id, chain_url, home, account)


@dao_app.command("status")
def status_cmd(
    proposal_id: str = typer.Argument(None, help="A proposal (default: all made from this home)."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    json_out: bool = JsonOut,
) -> None:
    """The DAO's settings, and each proposal's state, votes and quorum."""
    with session(home, chain_url) as ctx:
        dao = _dao(ctx)
        g = dao.governor
        ids = [proposal_id] if proposal_id else list(_load_proposals(ctx.paths))
        rows: list[dict[str, Any]] = []
        for pid in ids:
            a, f, ab = g.votes(int(pid))
            snap = g.snapshot(int(pid))
            rows.append(
                {
                    "proposal_id": pid,
                    "state": ProposalState(g.state(int(pid))).name.lower(),
                    "for": f,
                    "against": a,
                    "abstain": ab,
                    "quorum": g.quorum(snap) if snap < dao.net.now() else None,
                    "eta": g.eta(int(pid)),
                }
            )
        info: dict[str, Any] = {
            "governor": g.address,
            "timelock": dao.timelock.address,
            "timelock_delay": dao.timelock.min_delay(),
            "voting_delay": g.voting_delay(),
            "voting_period": g.voting_period(),
            "wveil_supply": dao.votes.total_supply(),
            "proposals": rows,
        }
    if json_out:
        emit_json(info)
        return
    console.print(
        f"governor {info['governor']}  timelock {info['timelock']} (delay {info['timelock_delay']} s)\n"
        f"voting delay {info['voting_delay']} s, period {info['voting_period']} s, wVEIL {amount(info['wveil_supply'])}"
    )
    for r in rows:
        console.print(
            f"{r['proposal_id']}: {r['state']}  for {amount(r['for'])} against {amount(r['against'])}"
        )


@dao_app.command("grants")
def grants_cmd(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    json_out: bool = JsonOut,
) -> None:
    """Every grant: recipient, escrow left, milestones and whether each is released."""
    with session(home, chain_url) as ctx:
        dao = _dao(ctx)
        gs = [dao.grants.grant(i) for i in range(1, dao.grants.grant_count() + 1)]
    rows = [
        {
            "grant_id": g.grant_id,
            "recipient": g.recipient,
            "escrowed": g.escrowed,
            "cancelled": g.cancelled,
            "milestones": [
                {"amount": m.amount, "check": m.check.name.lower(), "released": m.released}
                for m in g.milestones
            ],
        }
        for g in gs
    ]
    if json_out:
        emit_json(rows)
        return
    for r in rows:
        ms = ", ".join(
            f"{amount(m['amount'])} {m['check']}{' ✓' if m['released'] else ''}" for m in r["milestones"]
        )
        console.print(f"grant {r['grant_id']} to {r['recipient']}: {amount(r['escrowed'])} escrowed; {ms}")
