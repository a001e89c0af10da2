"""One client or validator action, run as its own process on its own host (``ip netns exec``).

``python actor.py COMMAND SPEC.json`` prints one JSON line: the result, or ``{"error": ...}`` with exit
status 2. Everything a party needs comes from the spec (chain URL, deployment file, its key file, its
home): the party's traffic to the chain and to nodes leaves from the namespace it runs in, as it
would from its own machine. The test process only moves the dev chain's clock and reads balances.

Commands: ``publish`` (a model, from the host that holds its artifacts), ``infer`` (Client.infer, ZK or FHE), ``open`` / ``post`` / ``refund`` (one ZK job by hand,
to be cut off between the steps), ``validator-commit`` (register, audit every node, commit weights),
``validator-reveal``.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np


def _setup(spec: dict[str, Any]) -> tuple[Any, Any]:
    from eth_account import Account

    from veilproof.chain import connect
    from veilproof.chain.deploy import Deployment
    from veilproof.chain.suite import Suite

    net = connect(spec["chain_url"])
    suite = Suite.attach(net, Deployment.load(Path(spec["deployment"])))
    account = Account.from_key(Path(spec["key_file"]).read_text().strip())
    return suite, account


def publish(spec: dict[str, Any]) -> dict[str, Any]:
    """The model owner publishes from the host whose store holds the artifacts (ZK package and/or
    FHE zips): commitments on chain, the VKA registered with the verifier."""
    from veilproof.artifacts import ArtifactStore
    from veilproof.client.publish import publish_model
    from veilproof.models import ModelPackage

    suite, owner = _setup(spec)
    store = ArtifactStore(spec["store"])
    for h in (spec.get("fhe_client_hash"), spec.get("fhe_server_hash")):
        if h and not store.has(h):
            raise FileNotFoundError(f"{h} is not in this host's store")
    pkg = ModelPackage.load(store, spec["zk_package"]) if spec.get("zk_package") else None
    pub = publish_model(
        suite, owner, name=spec["name"], price=spec["price"], royalty_bps=spec["royalty_bps"],
        onnx_hash=spec["onnx_hash"], zk=pkg, fhe_client_hash=spec.get("fhe_client_hash"),
        fhe_server_hash=spec.get("fhe_server_hash"),
    )  # fmt: skip
    return {"model_id": pub.model_id}


def infer(spec: dict[str, Any]) -> dict[str, Any]:
    from veilproof.client import Client

    suite, acct = _setup(spec)
    c = Client(suite, acct, Path(spec["home"]), poll_interval=0.2, deadline_s=spec.get("deadline_s", 1800))
    r = c.infer(spec["model_id"], spec["x"], private=spec.get("private", False), node=spec.get("node"))
    return {"job_id": r.job_id, "node": r.node, "mode": r.mode, "output": list(r.output), "status": r.status}


def open_job(spec: dict[str, Any]) -> dict[str, Any]:
    from veilproof.chain.views import MODE_ZK
    from veilproof.zk.instances import input_commitment
    from veilproof.zk.settings import CircuitSettings

    suite, acct = _setup(spec)
    m = suite.models.read_model(spec["model_id"])
    settings = CircuitSettings.load(spec["settings_file"])
    x = np.asarray(spec["x"], dtype=np.float64)
    commit = input_commitment(settings, x).to_bytes(32, "big")
    suite.token.approve(suite.market.address, m.price, sender=acct)
    deadline = suite.net.now() + spec["deadline_s"]
    rcpt = suite.market.open_job(
        m.model_id, spec["node"], commit, MODE_ZK, deadline, max_price=m.price, sender=acct
    )
    return {"job_id": suite.market.opened_job_id(rcpt), "deadline": deadline}


def post(spec: dict[str, Any]) -> dict[str, Any]:
    """POST the job's encrypted input to its node: the HTTP status, or the connection error."""
    import httpx

    from veilproof.chain.views import read_node
    from veilproof.protocol import RequestSig, encrypt_for_node, sign_request
    from veilproof.protocol.api import CONTENT_TYPE, JSON, SIGNATURE_HEADER, ZK_JOB

    suite, acct = _setup(spec)
    node = read_node(suite, spec["node"])
    env = encrypt_for_node(node.pubkey, json.dumps(spec["x"]).encode())
    body = json.dumps({"encrypted_input": "0x" + env.hex()}).encode()
    sig = sign_request(
        acct, RequestSig(suite.net.chain_id, suite.market.address, spec["node"], spec["job_id"]), body
    )
    r = httpx.post(
        node.endpoint + ZK_JOB.format(job_id=spec["job_id"]),
        content=body,
        headers={CONTENT_TYPE: JSON, SIGNATURE_HEADER: sig},
        timeout=spec.get("http_timeout", 20),
    )
    return {"status": r.status_code, "body": r.text[:500]}


def refund(spec: dict[str, Any]) -> dict[str, Any]:
    from veilproof.client import Client

    suite, acct = _setup(spec)
    tx = Client(suite, acct, Path(spec["home"])).refund(spec["job_id"])
    return {"tx": tx}


def _validator(spec: dict[str, Any]) -> Any:
    from veilproof.validator.audits import ModelAudit
    from veilproof.validator.service import Validator

    suite, acct = _setup(spec)
    audits = [
        ModelAudit(a["model_id"], np.asarray(a["inputs"], dtype=np.float64)) for a in spec.get("audits", [])
    ]
    return Validator(suite, acct, Path(spec["home"]), audits, name="validator")


def validator_commit(spec: dict[str, Any]) -> dict[str, Any]:
    v = _validator(spec)
    v.ensure_registered()
    audit = v.audit_epoch()
    epoch = v.commit(audit.weights)
    stats = {
        s.address: {"attempted": s.attempted, "correct": sum(r.correct for r in s.records)}
        for s in audit.stats.values()
    }
    return {"epoch": epoch, "weights": audit.weights, "stats": stats}


def validator_reveal(spec: dict[str, Any]) -> dict[str, Any]:
    v = _validator(spec)
    v.reveal(spec["epoch"])
    return {"revealed": v.revealed(spec["epoch"])}


COMMANDS = {
    "publish": publish,
    "infer": infer,
    "open": open_job,
    "post": post,
    "refund": refund,
    "validator-commit": validator_commit,
    "validator-reveal": validator_reveal,
}


def main() -> None:
    cmd, spec_file = sys.argv[1], sys.argv[2]
    try:
        out = COMMANDS[cmd](json.loads(Path(spec_file).read_text()))
    except Exception as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}))
        sys.exit(2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
