"""Private inference end to end: encrypted input and output cross real HTTP; the node never sees
the record, the answer or a secret key; bad ciphertexts are refused and the client loses nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import numpy as np
import pytest
from chance import assert_wrong_key_garbage
from world import PRICE, FheWorld

from veilproof.chain.views import MODE_FHE, OPEN, REFUNDED, SETTLED, SUBMITTED, read_job
from veilproof.protocol import RequestSig, sign_request
from veilproof.protocol.fhe_payload import fhe_keys_signed_payload, fhe_signed_payload

pytestmark = pytest.mark.slow


def _veil(w: FheWorld, addr: str) -> int:
    return w.lnet.suite.token.balance_of(addr)


def _fhe_client(w: FheWorld, who: str = "alice"):  # type: ignore[no-untyped-def]
    from veilproof.fhe import FheClient

    return FheClient(
        w.bundle.client_zip_path, w.lnet.root / "keys" / who, expected_client_hash=w.bundle.client_zip_hash
    )


def _open(w: FheWorld, ct: bytes, ek_hash: str, deadline_s: int = 1800) -> int:
    """Open an FHE job for ``ct`` committing the evaluation keys ``ek_hash`` (sha256 hex) it is sent under."""
    c = w.client
    c.suite.token.approve(c.suite.market.address, PRICE, sender=c.account)
    rcpt = c.suite.market.open_job(
        w.model_id,
        w.node.account.address,
        hashlib.sha256(ct).digest(),
        MODE_FHE,
        c.net.now() + deadline_s,
        max_price=PRICE,
        eval_keys_hash=bytes.fromhex(ek_hash),
        sender=c.account,
    )
    return c.suite.market.opened_job_id(rcpt)


def _post(w: FheWorld, job_id: int, ct: bytes, ek_hash: str) -> httpx.Response:
    ctx = RequestSig(w.lnet.net.chain_id, w.lnet.suite.market.address, w.node.account.address, job_id)
    sig = sign_request(w.client.account, ctx, fhe_signed_payload(hashlib.sha256(ct).hexdigest(), ek_hash))
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Veil-Eval-Keys": ek_hash,
        "X-Veil-Signature": sig,
    }
    return httpx.post(f"{w.node.endpoint}/fhe/jobs/{job_id}", content=ct, headers=headers, timeout=60)


def _upload(w: FheWorld, job_id: int, keys: bytes, signer=None) -> httpx.Response:  # type: ignore[no-untyped-def]
    """Upload evaluation keys for an open job, signed by its client (or ``signer``)."""
    ek = hashlib.sha256(keys).hexdigest()
    ctx = RequestSig(w.lnet.net.chain_id, w.lnet.suite.market.address, w.node.account.address, job_id)
    sig = sign_request(signer or w.client.account, ctx, fhe_keys_signed_payload(ek))
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Veil-Job": str(job_id),
        "X-Veil-Eval-Keys": ek,
        "X-Veil-Signature": sig,
    }
    return httpx.put(f"{w.node.endpoint}/fhe/keys", content=keys, headers=headers, timeout=120)


def test_private_inference_matches_the_clear_model_and_pays(fhe_world: FheWorld) -> None:
    w = fhe_world
    agree = 0
    rows = range(5)
    for row in rows:
        x = w.data.x_test[row]
        r = w.client.infer(w.model_id, x, private=True)
        assert read_job(w.lnet.suite, r.job_id).status == SETTLED
        clear = w.model.predict_proba(x.reshape(1, -1), "disable").ravel()
        assert np.allclose(r.output, clear, atol=1e-6)
        agree += int(np.argmax(r.output) == np.argmax(clear))
    assert agree == len(rows)
    node_pending = w.lnet.suite.market.pending(w.node.account.address)
    assert node_pending == len(rows) * (PRICE - PRICE * 2_000 // 10_000)


def _node_files(w: FheWorld) -> list[Path]:
    home = w.node.home
    files = [p for p in home.rglob("*") if p.is_file() and "artifacts" not in p.parts]
    return files + [p for p in (home / "artifacts").resolve().rglob("*") if p.is_file()]


def test_node_never_holds_a_secret_key_or_plaintext(fhe_world: FheWorld) -> None:
    w = fhe_world
    x = w.data.x_test[7]
    r = w.client.infer(w.model_id, x, private=True)
    # The SDK keeps its keys under <client home>/fhe-keys; read them the way the SDK does.
    w_alice = w.client.home / "fhe-keys"
    assert any(w_alice.rglob("keyset.bin"))
    alice = _fhe_client(w, "alice")
    # keyset.bin holds the secret keys (binary LWE keys: one 0/1 per u64 word) and the public
    # evaluation keys the node legitimately holds. Probe 256-byte windows (32 key bits, at least 8
    # set: no chance match) that are not part of the public keys.
    secret = alice.keyset_path.read_bytes()
    public = alice.evaluation_keys()
    probes = []
    for i in range(0, len(secret) - 256, 256):
        win = secret[i : i + 256]
        if sum(b != 0 for b in win) >= 8 and win not in public:
            probes.append(win)
    assert probes, "no secret-only window found in the keyset"
    plain = [
        np.asarray(x, dtype=np.float32).tobytes(),
        repr(float(x[0])).encode(),
        repr(r.output[0])[:8].encode(),
    ]
    for f in _node_files(w):
        data = f.read_bytes()
        for p in probes:
            assert p not in data, f"secret key bytes found in node file {f}"
        for p in plain:
            assert p not in data, f"plaintext found in node file {f}"


def test_another_clients_key_cannot_decrypt(fhe_world: FheWorld) -> None:
    w = fhe_world
    alice = _fhe_client(w, "alice")
    x = w.data.x_test[3]
    keys = alice.evaluation_keys()
    ct = alice.encrypt(x)
    job_id = _open(w, ct, hashlib.sha256(keys).hexdigest())
    assert _upload(w, job_id, keys).status_code == 200
    assert _post(w, job_id, ct, hashlib.sha256(keys).hexdigest()).status_code == 202
    import time

    t_end = time.monotonic() + 120
    while read_job(w.lnet.suite, job_id).status == OPEN:
        assert time.monotonic() < t_end
        time.sleep(0.2)
    out_ct = httpx.get(f"{w.node.endpoint}/fhe/jobs/{job_id}/output").content
    # Three other clients' keys on the same output: each decrypts to a uniform integer (the chance
    # that 2 of 3 equal Alice's uint19 is 1.1e-11, the test's false-failure probability).
    right = np.repeat(alice.decrypt_raw(out_ct), 3)
    wrong = np.concatenate([_fhe_client(w, f"mallory{i}").decrypt_raw(out_ct) for i in range(3)])
    assert_wrong_key_garbage(right, wrong, alice.output_bit_width)


def _served_fhe_job(w: FheWorld, row: int):  # type: ignore[no-untyped-def]
    """Alice's FHE job on test row ``row``: opened with her key commitment, keys uploaded, input
    sent, and waited for until the node posted its result (the job is no longer open)."""
    import time

    alice = _fhe_client(w, "alice")
    keys = alice.evaluation_keys()
    ct = alice.encrypt(w.data.x_test[row])
    job_id = _open(w, ct, hashlib.sha256(keys).hexdigest())
    assert _upload(w, job_id, keys).status_code == 200
    assert _post(w, job_id, ct, hashlib.sha256(keys).hexdigest()).status_code == 202
    t_end = time.monotonic() + 120
    while read_job(w.lnet.suite, job_id).status == OPEN:
        assert time.monotonic() < t_end
        time.sleep(0.2)
    return alice, job_id


def test_node_answers_a_demand_for_its_output_on_chain(fhe_world: FheWorld) -> None:
    """#12 output availability: a client that could not get the output ciphertext demands it on
    chain (claim_not_delivered, with a bond); the real node process watches the market and puts the
    ciphertext on chain before the due time, so it is never slashed for it, and takes the bond."""
    import time

    w = fhe_world
    alice, job_id = _served_fhe_job(w, 4)
    market, c = w.lnet.suite.market, w.client
    bond = market.delivery_bond()
    assert bond > 0
    w.lnet.suite.token.approve(market.address, bond, sender=c.account)
    market.claim_not_delivered(job_id, sender=c.account)
    t_end = time.monotonic() + 30
    while (out := market.delivered_output(job_id)) is None:
        assert time.monotonic() < t_end, "the node did not deliver the demanded output"
        time.sleep(0.3)
    assert hashlib.sha256(out).hexdigest() == read_job(w.lnet.suite, job_id).output_ct_hash
    assert out == httpx.get(f"{w.node.endpoint}/fhe/jobs/{job_id}/output").content
    assert market.delivery(job_id).delivered
    assert abs(float(alice.decrypt(out).sum()) - 1.0) < 0.05


def test_node_collects_the_penalty_of_a_refuted_attestation(fhe_world: FheWorld) -> None:
    """#12 item 4 follow-up: a validator holding a third of the stake attests a false hash against the
    honest node's real FHE result; the quorum never forms, and once the window closes the node
    process's maintenance loop calls FheQuorum.settle_refuted by itself: the attester's penalty
    lands in the node's wallet. Before, nobody sent that transaction: a false attestation cost
    its author nothing and the accused node got nothing (the wait below timed out)."""
    import time

    from eth_utils import keccak

    w = fhe_world
    s, net = w.lnet.suite, w.lnet.net
    quorum = s.quorum
    assert quorum is not None
    _, job_id = _served_fhe_job(w, 2)
    vmin = s.rewards.min_stake()
    honest, griefer = w.lnet.new_funded(2 * vmin // 10**18), w.lnet.new_funded(vmin // 10**18)
    for v, stake in ((honest, 2 * vmin), (griefer, vmin)):
        s.token.approve(s.rewards.address, stake, sender=v)
        s.rewards.register_validator(stake, sender=v)
    quorum.attest_mismatch(job_id, keccak(b"a hash the griefer never computed"), sender=griefer)
    assert not quorum.disputed(job_id)  # a third of the stake: no quorum
    node = w.node.account.address
    before = _veil(w, node)
    penalty = vmin * quorum.false_attest_bps() // 10_000
    assert penalty > 0
    net.time_travel(s.market.challenge_window() + 1)
    t_end = time.monotonic() + 60
    while not quorum.settled(job_id, griefer.address):
        assert time.monotonic() < t_end, "the node did not settle the refuted attestation"
        time.sleep(0.3)
    assert _veil(w, node) == before + penalty
    assert s.rewards.read_validator(griefer.address).stake == vmin - penalty
    assert quorum.refuted_count(griefer.address) == 1
    assert s.rewards.read_validator(honest.address).stake == 2 * vmin  # never attested: never charged


def test_node_finalizes_its_fhe_job_when_the_client_never_accepts(fhe_world: FheWorld) -> None:
    """A client that takes its output and never calls ``accept`` (walked away, or gone) must not leave
    the node's pay in escrow: once the challenge window closes, the node process's maintenance loop
    calls ``finalize`` by itself and its pending earnings rise by exactly its share. Before, nobody
    did (the load benchmark had to finalize with the node's key; this wait timed out)."""
    import time

    w = fhe_world
    s, net = w.lnet.suite, w.lnet.net
    _, job_id = _served_fhe_job(w, 5)
    assert read_job(s, job_id).status == SUBMITTED
    node = w.node.account.address
    before = s.market.pending(node)
    time.sleep(3)  # a watch tick inside the window: the node must not try (finalize would revert)
    assert read_job(s, job_id).status == SUBMITTED
    net.time_travel(s.market.challenge_window() + 1)
    t_end = time.monotonic() + 60
    while read_job(s, job_id).status == SUBMITTED:
        assert time.monotonic() < t_end, "the node did not finalize its unaccepted FHE job"
        time.sleep(0.3)
    assert read_job(s, job_id).status == SETTLED
    job = read_job(s, job_id)
    assert s.market.pending(node) - before == job.price - job.price * 2_000 // 10_000


@pytest.mark.parametrize(
    "case", ["truncated", "other_circuit", "random_bytes", "other_circuit_keys", "oversized_keys"]
)
def test_bad_ciphertexts_and_keys_are_refused_and_nothing_is_lost(fhe_world: FheWorld, case: str) -> None:
    w = fhe_world
    alice = _fhe_client(w, "alice")
    keys = alice.evaluation_keys()
    ek = hashlib.sha256(keys).hexdigest()
    ct = alice.encrypt(w.data.x_test[4])
    if case == "oversized_keys":
        # Declare 1 TiB: the node must answer 413 from the header alone, without reading the body
        # (and before it asks the chain about the job).
        import socket
        from urllib.parse import urlparse

        u = urlparse(w.node.endpoint)
        with socket.create_connection((u.hostname, u.port), timeout=30) as sock:
            sock.sendall(
                b"PUT /fhe/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                b"X-Veil-Job: 1\r\nX-Veil-Eval-Keys: " + ek.encode() + b"\r\n"
                b"Content-Length: 1099511627776\r\n\r\n" + b"\0" * 1024
            )
            status_line = sock.recv(4096).split(b"\r\n", 1)[0]
        assert b" 413 " in status_line, status_line
        assert httpx.get(f"{w.node.endpoint}/health").status_code == 200
        return
    if case == "truncated":
        ct = ct[: len(ct) // 2]
    elif case == "random_bytes":
        ct = os.urandom(len(ct))
    elif case == "other_circuit":
        from veilproof.fhe import FheClient

        other = FheClient(w.other_bundle.client_zip_path, w.lnet.root / "keys" / "alice-xgb")
        ct = other.encrypt(w.data.x_test[4])
    bad_keys = None
    if case == "other_circuit_keys":
        from veilproof.fhe import FheClient

        other = FheClient(w.other_bundle.client_zip_path, w.lnet.root / "keys" / "alice-xgb")
        bad_keys = other.evaluation_keys()
        ek = hashlib.sha256(bad_keys).hexdigest()  # the client commits the keys it will send
    before = _veil(w, w.client.account.address)
    job_id = _open(w, ct, ek, deadline_s=60)
    if bad_keys is not None:
        up = _upload(w, job_id, bad_keys)  # refused at the upload: the wrong size for this circuit
        assert up.status_code == 400 and "this circuit needs" in up.json()["error"], up.text
    else:
        assert _upload(w, job_id, keys).status_code == 200
    r = _post(w, job_id, ct, ek)
    if r.status_code == 202:
        # Passed the cheap checks (right size): the node declines it on chain once evaluation fails.
        import time

        t_end = time.monotonic() + 120
        while read_job(w.lnet.suite, job_id).status == OPEN:
            assert time.monotonic() < t_end
            time.sleep(0.2)
        job = read_job(w.lnet.suite, job_id)
        # Random bytes of the right size may still "evaluate" to garbage: then the job is submitted
        # and the client (who checks the output) is the one who judges; otherwise it is refunded.
        assert job.status in (REFUNDED, 2)
        if job.status == REFUNDED:
            w.client.withdraw()
            assert _veil(w, w.client.account.address) == before
    else:
        assert r.status_code in (400, 428), r.text
        assert r.json()["error"]
        w.lnet.net.time_travel(61)
        w.client.refund(job_id)
        assert read_job(w.lnet.suite, job_id).status == REFUNDED
        assert _veil(w, w.client.account.address) == before
    assert httpx.get(f"{w.node.endpoint}/health").status_code == 200
    # and it still serves an honest patient afterwards
    res = w.client.infer(w.model_id, w.data.x_test[5], private=True)
    assert res.status == "settled"


def test_key_uploads_need_a_signed_open_job_and_fit_a_quota(fhe_world: FheWorld) -> None:
    """``PUT /fhe/keys`` took 256 MiB from anyone, stored it forever and served it publicly. Now an upload
    names an open FHE job of its signer on this node (checked before the body is read), counts against
    that client's quota (1.5 key sets here), and is deleted once the job is over.

    (This circuit's evaluation keys are the same bytes for every client — a logistic regression needs
    no bootstrapping keys — so a second, distinct key set is random bytes of the right size: the node
    can only check sizes at upload, and garbage keys fail at evaluation.)"""
    import time

    from eth_account import Account

    w = fhe_world
    keys = _fhe_client(w, "alice").evaluation_keys()
    junk = os.urandom(len(keys))
    ek_junk = hashlib.sha256(junk).hexdigest()
    ct = _fhe_client(w, "alice").encrypt(w.data.x_test[9])
    job_id = _open(w, ct, ek_junk, deadline_s=60)
    # anonymous: no job, no signature (what the review did with 256 MiB)
    anon = httpx.put(f"{w.node.endpoint}/fhe/keys", content=junk,
                     headers={"Content-Type": "application/octet-stream"}, timeout=60)  # fmt: skip
    assert anon.status_code == 422 and anon.json()["error"]
    # signed by someone who is not the job's client, or for a job that does not exist
    assert _upload(w, job_id, junk, signer=Account.create()).status_code == 401
    assert _upload(w, 10**6, junk).status_code == 404
    # a body that is not what was signed (the keys it names, this client already holds)
    ek = hashlib.sha256(keys).hexdigest()
    ctx = RequestSig(w.lnet.net.chain_id, w.lnet.suite.market.address, w.node.account.address, job_id)
    headers = {"Content-Type": "application/octet-stream", "X-Veil-Job": str(job_id), "X-Veil-Eval-Keys": ek,
               "X-Veil-Signature": sign_request(w.client.account, ctx, fhe_keys_signed_payload(ek))}  # fmt: skip
    swapped = httpx.put(f"{w.node.endpoint}/fhe/keys", content=junk, headers=headers, timeout=60)
    assert swapped.status_code == 400 and "does not hash" in swapped.json()["error"], swapped.text
    assert httpx.head(f"{w.node.endpoint}/fhe/keys/{ek_junk}").status_code == 404, (
        "a refused upload was stored"
    )
    # The quota is per client: a second key set is one too many.
    fresh = w.lnet.new_funded(10)
    market = w.lnet.suite.market

    def open_for_fresh() -> int:
        w.lnet.suite.token.approve(market.address, PRICE, sender=fresh)
        deadline = w.lnet.net.now() + 60
        commit = hashlib.sha256(ct).digest()
        return market.opened_job_id(
            market.open_job(
                w.model_id,
                w.node.account.address,
                commit,
                MODE_FHE,
                deadline,
                max_price=PRICE,
                eval_keys_hash=bytes.fromhex(ek_junk),
                sender=fresh,
            )  # fmt: skip
        )

    junk2 = os.urandom(len(keys))
    jobs = [open_for_fresh(), open_for_fresh()]
    assert _upload(w, jobs[0], junk, signer=fresh).status_code == 200
    assert _upload(w, jobs[1], junk, signer=fresh).status_code == 200  # the same keys again: counted once
    assert httpx.get(f"{w.node.endpoint}/artifacts/{ek_junk}").status_code == 404  # held for jobs, not served
    over = _upload(w, jobs[1], junk2, signer=fresh)
    assert over.status_code == 413 and "quota" in over.json()["error"], over.text
    assert httpx.head(f"{w.node.endpoint}/fhe/keys/{hashlib.sha256(junk2).hexdigest()}").status_code == 404
    # Once the jobs are over (past their deadline: refunded here), the node deletes their keys.
    w.lnet.net.time_travel(61)
    for j in jobs:
        market.refund(j, sender=fresh)
    w.client.refund(job_id)
    t_end = time.monotonic() + 30
    while httpx.head(f"{w.node.endpoint}/fhe/keys/{ek_junk}").status_code == 200:
        assert time.monotonic() < t_end, "keys of finished jobs are still held"
        time.sleep(0.5)
    # and the client's quota is free again
    assert _upload(w, open_for_fresh(), junk2, signer=fresh).status_code == 200
