"""``veilproof data deploy|publish|consent|register|version|revoke|buy|score|earnings``: the consented
data market (docs/data-market.md) from a terminal.

A curator publishes and registers, a data subject signs consents (a JSON file handed to the curator)
and revokes, a buyer escrows a use (and, given a host URL, runs the compute-to-data job and checks
the result), a scorer posts quality scores, everyone pulls earnings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    amount,
    console,
    emit_json,
    session,
)
from veilproof.errors import InputError

data_app = typer.Typer(help="Consented datasets: publish, consent, revoke, buy compute-to-data, score, earn.")

ONE = 10**18


def _b32(name: str, text: str) -> bytes:
    try:
        b = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        b = b""
    if len(b) != 32:
        raise InputError(name, "32 bytes as hex (64 hex digits, 0x optional)", text)
    return b


def _uses(text: str) -> int:
    from veilproof.chain.data_registry import USES

    bits = 0
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part not in USES:
            raise InputError("--uses", f"a comma list of {', '.join(USES)}", text)
        bits |= USES[part]
    if not bits:
        raise InputError("--uses", f"at least one of {', '.join(USES)}", text)
    return bits


def _out(json_out: bool, obj: dict[str, Any], line: str) -> None:
    if json_out:
        emit_json(obj)
    else:
        console.print(line, soft_wrap=True)


@data_app.command("deploy")
def deploy(
    window: int = typer.Option(24 * 3600, help="Seconds a host has to deliver before the buyer may refund."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Deploy DataRegistry next to the suite (the suite's owner; once)."""
    from veilproof.chain.deploy import deploy_data_market

    with session(home, chain_url, account) as ctx:
        if ctx.suite.deployment.extra.get("data_registry"):
            raise InputError("deployment", "no DataRegistry yet", ctx.suite.deployment.extra["data_registry"])
        d = deploy_data_market(ctx.net, ctx.signer, ctx.suite.deployment, window)
        d.save(ctx.paths.deployment)
    _out(json_out, {"data_registry": d.extra["data_registry"]}, f"DataRegistry at {d.extra['data_registry']}")


@data_app.command("publish")
def publish(
    schema: str = typer.Option(..., help="Schema description; its keccak256 goes on chain."),
    host: str = typer.Option(..., help="Address of the data host that holds the records."),
    uses: str = typer.Option("training,evaluation", help="Uses sold: training, evaluation, inference."),
    price: float = typer.Option(10.0, help="Price of one use, in VEIL."),
    days: int = typer.Option(90, min=1, help="Days until no more uses can be bought."),
    curator_bps: int = typer.Option(1000, min=0, max=10000, help="Curator's share of each sale (bps)."),
    uri: str = typer.Option("", help="Where the dataset's description lives."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Publish a dataset curated by this account; prints its id."""
    from eth_utils import keccak

    with session(home, chain_url, account) as ctx:
        ds = ctx.suite.data.publish(
            keccak(schema.encode()), _uses(uses), int(price * ONE), ctx.net.now() + days * 86400, curator_bps, host,
            uri, sender=ctx.signer,
        )  # fmt: skip
    _out(json_out, {"dataset_id": ds}, f"published dataset {ds}")


@data_app.command("consent")
def consent(
    dataset_id: int = typer.Argument(...),
    record_hash: str = typer.Argument(..., help="The record's hash (0x + 64 hex)."),
    uses: str = typer.Option("training,evaluation", help="Uses allowed."),
    days: int = typer.Option(60, min=1, help="Days the consent lasts."),
    nonce: int = typer.Option(0, min=0, help="Any number not used before (raise it to cancel older ones)."),
    out: Path | None = typer.Option(None, help="Write the signed consent here (default: stdout)."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Sign, as the data subject, consent for one record of a dataset (nothing is sent on chain)."""
    with session(home, chain_url, account) as ctx:
        reg = ctx.suite.data
        c = reg.consent(ctx.signer.address, dataset_id, _b32("RECORD_HASH", record_hash), _uses(uses),
                        ctx.net.now() + days * 86400, nonce)  # fmt: skip
        s = reg.sign_consent(c, ctx.signer)
    doc = {
        "subject": c.subject, "dataset_id": c.dataset_id, "record_hash": "0x" + c.record_hash.hex(),
        "allowed_uses": c.allowed_uses, "expiry": c.expiry, "nonce": c.nonce, "signature": "0x" + s.signature.hex(),
    }  # fmt: skip
    text = json.dumps(doc, indent=2)
    if out:
        out.write_text(text + "\n")
        console.print(f"consent written to {out}")
    else:
        console.print(text, soft_wrap=True)


@data_app.command("register")
def register(
    dataset_id: int = typer.Argument(...),
    consents: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Signed consent files."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Register records with their subjects' signed consents (the curator; checked on chain)."""
    from veilproof.chain.data_registry import Consent, SignedConsent

    with session(home, chain_url, account) as ctx:
        signed = []
        for f in consents:
            try:
                d = json.loads(f.read_text())
                c = Consent(d["subject"], int(d["dataset_id"]), _b32("record_hash", d["record_hash"]),
                            int(d["allowed_uses"]), int(d["expiry"]), int(d["nonce"]))  # fmt: skip
                signed.append(SignedConsent(c, bytes.fromhex(d["signature"].removeprefix("0x"))))
            except (ValueError, KeyError, TypeError) as e:
                raise InputError(str(f), "a consent file written by `veilproof data consent`", str(e)) from e
        ctx.suite.data.register_records(dataset_id, signed, sender=ctx.signer)
    _out(json_out, {"registered": len(signed)}, f"registered {len(signed)} records in dataset {dataset_id}")


@data_app.command("version")
def version(
    dataset_id: int = typer.Argument(...),
    records: list[str] = typer.Argument(..., help="Record hashes of the version."),
    parent: int = typer.Option(0, help="Version this one replaces."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Commit a version (the contract computes its roots and refuses revoked records)."""
    with session(home, chain_url, account) as ctx:
        vid = ctx.suite.data.commit_version(
            dataset_id, parent, [_b32("RECORDS", r) for r in records], sender=ctx.signer
        )
        v = ctx.suite.data.read_version(vid)
    _out(
        json_out,
        {
            "version_id": vid,
            "record_root": v.record_root,
            "consent_root": v.consent_root,
            "records": v.record_count,
        },
        f"version {vid}: {v.record_count} records, root {v.record_root}",
    )


@data_app.command("revoke")
def revoke(
    dataset_id: int = typer.Argument(...),
    record_hash: str = typer.Argument(...),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Revoke, for good, this account's consent for one record."""
    with session(home, chain_url, account) as ctx:
        tx = ctx.suite.data.revoke(dataset_id, _b32("RECORD_HASH", record_hash), sender=ctx.signer).tx_hash
    _out(json_out, {"tx": tx}, f"revoked (tx {tx})")


@data_app.command("buy")
def buy(
    version_id: int = typer.Argument(...),
    use: str = typer.Option("training", help="training, evaluation or inference."),
    host_url: str | None = typer.Option(None, help="Run the job on this data host and fetch the result."),
    out: Path | None = typer.Option(None, help="Write the result package here (with --host-url)."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Escrow one use of a version for the default algorithm (scikit-learn logistic regression); with
    --host-url also run it there and check the result against the chain and the host's receipt."""
    from veilproof.data.algorithms import LogisticRegressionJob
    from veilproof.data.buyer import DataBuyer

    with session(home, chain_url, account) as ctx:
        buyer = DataBuyer(ctx.suite.data, ctx.signer, host_url or "http://127.0.0.1:0")
        algo = LogisticRegressionJob()
        if host_url is None:
            sale = buyer.buy(version_id, algo, _uses(use))
            _out(json_out, {"sale_id": sale}, f"sale {sale} escrowed; the host delivers or you refund")
            return
        res = buyer.run(version_id, algo, _uses(use))
        if out:
            out.write_bytes(res.package)
    _out(
        json_out,
        {"sale_id": res.sale_id, "result_hash": res.receipt.result_hash, "seconds": res.seconds},
        f"sale {res.sale_id}: result {res.receipt.result_hash} checked against the chain ({res.seconds:.1f} s)",
    )


@data_app.command("score")
def score(
    version_id: int = typer.Argument(...),
    scores: list[int] = typer.Argument(..., help="One score per contributor, in `contributors` order."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Post measured quality scores (the registry's scorer); later sales split by max(score, 0)."""
    with session(home, chain_url, account) as ctx:
        ctx.suite.data.post_scores(version_id, scores, sender=ctx.signer)
        c = ctx.suite.data.contributors(version_id)
    _out(
        json_out,
        {"contributors": c.subjects, "weights": c.weights},
        "\n".join(f"{s}: weight {w}" for s, w in zip(c.subjects, c.weights, strict=True)),
    )


@data_app.command("earnings")
def earnings(
    withdraw: bool = typer.Option(False, "--withdraw", help="Also pull them."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """What the data market owes this account (sale shares, curator cuts, refunds)."""
    with session(home, chain_url, account) as ctx:
        owed = ctx.suite.data.pending(ctx.signer.address)
        tx = ctx.suite.data.withdraw(sender=ctx.signer).tx_hash if withdraw and owed else None
    _out(json_out, {"account": ctx.signer.address, "veil": owed / ONE, "withdrawn": bool(tx), "tx": tx},
         f"{ctx.signer.address}: {amount(owed)} VEIL" + (f", withdrawn (tx {tx})" if tx else ""))  # fmt: skip
