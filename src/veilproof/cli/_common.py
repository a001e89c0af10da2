"""Options and helpers shared by the CLI commands, and the one place failures are printed.

Every failure reaches :func:`report_error`: an expected one (a :class:`VeilproofError`, or a chain error
we recognise) prints one line saying what happened and what to do; ``--debug`` adds the traceback;
a command run with ``--json`` prints a JSON error object on stdout instead, so scripts can parse it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

import click
import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.markup import escape

from veilproof.chain import Network, connect
from veilproof.chain.dev.local import read_local_chain
from veilproof.chain.keystore import Keystore
from veilproof.client.errors import InferenceFailed
from veilproof.config import Paths
from veilproof.errors import ConfigError, InsufficientFunds, KeystoreError, VeilproofError

if TYPE_CHECKING:
    from veilproof.chain.suite import Suite

# Not a terminal (a pipe, a file, a test): no width limit, so addresses and hashes are never cut or wrapped.
_WIDTH = None if sys.stdout.isatty() else 1_000
console = Console(soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, soft_wrap=True, width=_WIDTH)

ChainUrl = typer.Option(
    None,
    "--chain-url",
    envvar="VEILPROOF_CHAIN_URL",
    help="JSON-RPC URL. Default: the chain `veilproof chain up` started, else an in-process embedded chain.",
)
Home = typer.Option(None, "--home", envvar="VEILPROOF_HOME", help="State folder (default ~/.veilproof).")
AccountName = typer.Option("default", "--account", "-a", help="Keystore account name.")
JsonOut = typer.Option(False, "--json", help="Print machine-readable JSON.")


_last_paths: list[Paths] = []


def paths(home: str | None) -> Paths:
    """The state folder of this command (remembered so an error can name keystore accounts)."""
    p = Paths.default(home)
    _last_paths[:] = [p]
    return p


def resolve_chain_url(p: Paths, chain_url: str | None) -> str | None:
    if chain_url:
        return chain_url
    lc = read_local_chain(p.home)
    return lc.url if lc else None


def open_network(p: Paths, chain_url: str | None) -> Network:
    """The chain of ``--chain-url``, else the one `chain up` started, else an in-process embedded chain
    (commands that need deployed contracts then say so via :func:`attach_suite`; ``deploy`` warns)."""
    return connect(resolve_chain_url(p, chain_url))


def amount(wei: int) -> str:
    """An amount of VEIL or ether in whole units, exactly, without exponent: 1000000, 0.9, 1.25."""
    d = (Decimal(wei) / Decimal(10**18)).normalize()
    return f"{d:,f}"


def load_account(p: Paths, name: str, create: bool = False) -> LocalAccount:
    """Load (or create) a keystore account; the password comes from $VEILPROOF_PASSWORD or a prompt."""
    ks = Keystore(p.keystore)
    password = os.environ.get("VEILPROOF_PASSWORD")
    exists = (p.keystore / f"{name}.json").is_file()
    if not exists and not create:
        raise ConfigError(
            f"no account {name!r} in {p.keystore}: create one with `veilproof account new {name}`"
        )
    if password is None and not sys.stdin.isatty():
        raise ConfigError(
            f"account {name!r} needs its password and there is no terminal to ask: set $VEILPROOF_PASSWORD"
        )
    if password is None:
        password = typer.prompt(
            f"password for account {name!r}", hide_input=True, confirmation_prompt=not exists
        )
    if not exists:
        entry = ks.create(name, password)
        err_console.print(f"created account [bold]{name}[/] {entry.address} in {entry.path}")
    return ks.load(name, password)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def emit_json_line(obj: Any) -> None:
    """One JSON object per line, flushed: the output of a long-running command read as it happens."""
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def attach_suite(p: Paths, net: Network) -> Suite:
    """The deployed suite from ``<home>/deployment.json``, checked against the connected chain.

    A dev chain restarted since ``deploy`` has the same chain id but no contracts: without this check
    the first call fails deep in web3 ("could not transact with/call contract function").
    """
    from veilproof.chain.deploy import Deployment
    from veilproof.chain.suite import Suite

    d = Deployment.load(p.deployment)
    if net.kind == "embedded":
        raise ConfigError(
            f"no chain running for {p.deployment}: start one with `veilproof chain up` and run "
            "`veilproof deploy`, or pass --chain-url"
        )
    if net.chain_id != d.chain_id:
        raise ConfigError(
            f"{p.deployment} is for chain {d.chain_id} but the connected chain is {net.chain_id}: "
            "pass the right --chain-url, or run `veilproof deploy` on this chain"
        )
    if not net.w3.eth.get_code(d.market):  # type: ignore[arg-type]  # a checksummed address string
        raise ConfigError(
            f"no contracts at the addresses in {p.deployment} (the chain was restarted since they were "
            "deployed): run `veilproof deploy` again"
        )
    return Suite.attach(net, d)


# --- failures -------------------------------------------------------------------------------------
def _meta() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().meta if ctx is not None else {}


def verbose_enabled() -> bool:
    return bool(_meta().get("veilproof.verbose")) or os.environ.get("VEILPROOF_VERBOSE", "") not in ("", "0")


_ENGINE_LOGGERS = ("ezkl", "halo2_proofs", "tract_core", "tract_hir", "tract_onnx", "concrete")


class EngineLog:
    """What :func:`engine_output` kept from the engines: EZKL's numerical-fidelity figures, if it reported them."""

    def __init__(self) -> None:
        self.fidelity: dict[str, str] = {}


class _FidelityCatcher(logging.Handler):
    """Reads EZKL's fidelity table (a WARNING record: a header row and a value row between '|')."""

    def __init__(self, into: EngineLog) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "Fidelity Report" not in msg:
            return
        rows = [
            [c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in msg.splitlines()
            if ln.strip().startswith("|")
        ]
        if len(rows) >= 2 and len(rows[0]) == len(rows[1]):
            self.into.fidelity = dict(zip(rows[0], rows[1], strict=True))


@contextmanager
def engine_output(p: Paths) -> Iterator[EngineLog]:
    """Send what the native engines print straight to the process's stderr (EZKL's numerical-fidelity
    table and "experimental" notice, Concrete's and CUDA's start-up lines) to ``<home>/logs/engines.log``
    unless ``--verbose``: they interleave with the spinner and bury the one line that matters.

    Native code writes to file descriptor 2, libraries' Python code to ``sys.stderr`` (torch's "No CUDA
    runtime"): both point at the log meanwhile. Inside, the CLI itself speaks only through the stdout
    spinner; its own stderr lines are printed before and after.
    """
    caught = EngineLog()
    catcher = _FidelityCatcher(caught)
    ezkl_log = logging.getLogger("ezkl")
    ezkl_log.addHandler(catcher)
    try:
        if verbose_enabled():
            yield caught
        else:
            with _engines_to_log(p):
                yield caught
    finally:
        ezkl_log.removeHandler(catcher)


@contextmanager
def _engines_to_log(p: Paths) -> Iterator[None]:
    log = p.home / "logs" / "engines.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    stream = open(log, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    os.dup2(stream.fileno(), 2)
    old, sys.stderr = sys.stderr, stream
    # EZKL's Rust logs reach Python logging (pyo3-log): its warnings (the fidelity table, "experimental")
    # would otherwise land on stderr through logging's last-resort handler.
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    engines = [logging.getLogger(n) for n in _ENGINE_LOGGERS]
    propagate = [lg.propagate for lg in engines]
    for lg in engines:
        lg.addHandler(handler)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, prop in zip(engines, propagate, strict=True):
            lg.removeHandler(handler)
            lg.propagate = prop
        sys.stderr = old
        stream.flush()
        os.dup2(saved, 2)
        os.close(saved)
        stream.close()


def quiet_warnings() -> None:
    """Our CLI prints its own SRS notice: the Python warning (with its source line) only with --verbose."""
    if not verbose_enabled():  # by message: importing zk.srs here would load EZKL for every command
        warnings.filterwarnings("ignore", message="using a locally GENERATED KZG SRS")


def debug_enabled() -> bool:
    return bool(_meta().get("veilproof.debug")) or os.environ.get("VEILPROOF_DEBUG", "") not in ("", "0")


def json_errors() -> bool:
    """The command line asked for ``--json``: errors are printed as a JSON object too."""
    return "--json" in _meta().get("veilproof.argv", ())


def _account_name(address: str) -> str | None:
    if not _last_paths:
        return None
    try:
        for e in Keystore(_last_paths[0].keystore).list():
            if e.address.lower() == address.lower():
                return e.name
    except (OSError, VeilproofError):
        return None
    return None


def explain(e: BaseException) -> tuple[str, str]:
    """``(kind, one line)`` for a failure: what happened and what to do."""
    if isinstance(e, InsufficientFunds):
        name = _account_name(e.address)
        who = f"account {name!r} ({e.address})" if name else f"account {e.address}"
        return "InsufficientFunds", (
            f"{who} cannot pay for {e.action}: it holds {amount(e.balance)} ETH"
            + (f", needs {amount(e.needed)}" if e.needed else "")
            + f". Send it ether from a funded account: `veilproof transfer {e.address} --eth 1`"
        )
    if isinstance(e, InferenceFailed):
        why = "; ".join(f"node {a.get('node')}: {a.get('error')}" for a in e.attempts)
        paid = sorted({a["job_id"] for a in e.attempts if a.get("job_id")})
        hint = (
            f". Escrow of job(s) {', '.join(map(str, paid))} comes back with `veilproof refund JOB` after the "
            "deadline (`veilproof jobs` says when)"
            if paid
            else ""
        )
        return type(e).__name__, f"{e}: {why}{hint}"
    if isinstance(e, KeystoreError) and "wrong password" in str(e):
        return type(e).__name__, f"{e} (the password comes from $VEILPROOF_PASSWORD or the prompt)"
    if isinstance(e, VeilproofError):
        return type(e).__name__, str(e)
    kind = type(e).__name__
    # web3's HTTP provider raises requests' ConnectionError (not the builtin one): the chain RPC is the
    # only network the CLI talks to unwrapped (node HTTP failures arrive as the client's typed errors).
    if isinstance(e, ConnectionError) or kind in ("ConnectionError", "ConnectError", "ConnectTimeout"):
        return "ChainUnreachable", (
            "cannot reach the chain: start one with `veilproof chain up`, or pass a live --chain-url"
        )
    first = (str(e).strip().splitlines() or [""])[0]
    return kind, f"unexpected {kind}: {first[:300]} (rerun with --debug for the traceback)"


def report_error(e: BaseException) -> NoReturn:
    """Print a failure as one line (or a JSON object with ``--json``) and exit with status 1."""
    if debug_enabled():
        err_console.print("".join(traceback.format_exception(e)), markup=False, highlight=False)
    kind, line = explain(e)
    if json_errors():
        emit_json({"error": {"type": kind, "message": line}})
    else:
        err_console.print(f"[red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def fail(e: VeilproofError) -> NoReturn:
    report_error(e)


@contextmanager
def failing() -> Iterator[None]:
    """Turn an expected failure (a :class:`VeilproofError`) raised inside into the one-line error and exit 1.

    Every command wrapped its body in the same ``try: ... except VeilproofError as e: fail(e)``; this is
    that block, once. Anything else propagates to the top-level handler in ``cli/main.py`` unchanged.
    """
    try:
        yield
    except VeilproofError as e:
        fail(e)


@dataclass(frozen=True)
class Session:
    """What a command that acts on the deployed suite opens: the state folder, the chain, the signing
    account (``None`` when the command signs nothing, or loads it itself later) and the suite."""

    paths: Paths
    net: Network
    account: LocalAccount | None
    suite: Suite

    @property
    def signer(self) -> LocalAccount:
        """The account, for commands that opened one (a programming error otherwise, not a user one)."""
        assert self.account is not None, "opened without an account"
        return self.account


def open_session(home: str | None, chain_url: str | None, account: str | None = None) -> Session:
    """Open the state folder, the chain, then (if named) the account, then the suite, in that order:
    a missing account is reported before a missing deployment, as the commands always did."""
    p = paths(home)
    net = open_network(p, chain_url)
    acct = load_account(p, account) if account is not None else None
    return Session(p, net, acct, attach_suite(p, net))


@contextmanager
def session(home: str | None, chain_url: str | None, account: str | None = None) -> Iterator[Session]:
    """:func:`open_session` with the command's body under :func:`failing`: the
    ``open home/network/account/suite, try: ... except VeilproofError: fail`` each suite command began with."""
    with failing():
        yield open_session(home, chain_url, account)
