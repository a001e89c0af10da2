"""Measured detection rate of an FHE node that cheats on a fraction f of jobs, audited at rate a.

Real FHE on the audited jobs (the only ones anybody checks): each audit encrypts a known input under
a fresh key and judges the decrypted answer with the validator's own check (``matches``). A cheated
job returns an earlier job's output (a real ciphertext of the right shape, under another key), which
is what a node skipping the work can do. Compared with ``incentives.audits.detection_probability``.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from veilproof.incentives.audits import detection_probability
from veilproof.validator import matches

pytestmark = pytest.mark.slow

F, A, N, TRIALS = 0.3, 0.1, 20, 100


def test_detection_rate_matches_closed_form(tmp_path: Path) -> None:
    from veilproof.artifacts import ArtifactStore, sha256_hex
    from veilproof.fhe import FheClient, FheServer, reexecute
    from veilproof.models.fhe_examples import build_bundle, load_dataset

    data = load_dataset()
    bundle = build_bundle("logreg", ArtifactStore(tmp_path / "store"), data)
    server = FheServer(bundle.server_zip_path, expected_hash=bundle.server_zip_hash)
    try:
        ref = FheClient(bundle.client_zip_path, tmp_path / "ref")
        xs = data.x_test[:10].astype(np.float32)
        expected = [ref.decrypt(server.run(ref.encrypt(x.reshape(1, -1)), ref.evaluation_keys())) for x in xs]
        stale = server.run(ref.encrypt(xs[0].reshape(1, -1)), ref.evaluation_keys())  # a cheater's replay
        rng = random.Random(0)
        detected = audited_cheats = audited_honest = false_alarms = flagged_cheats = answer_only_misses = 0
        for t in range(TRIALS):
            caught = False
            for j in range(N):
                cheat, audit = rng.random() < F, rng.random() < A
                if not audit:
                    continue  # a patient's job: nobody can check it
                k = rng.randrange(len(xs))
                fc = FheClient(bundle.client_zip_path, tmp_path / "audits" / f"{t}-{j}")  # fresh key
                last_ct = fc.encrypt(xs[k].reshape(1, -1))
                out = stale if cheat else server.run(last_ct, fc.evaluation_keys())
                try:
                    answer_ok = matches(np.ravel(fc.decrypt(out)), np.ravel(expected[k]), 1e-3)
                except Exception:  # undecryptable garbage is as wrong as a wrong answer
                    answer_ok = False
                # the validator's exact check: re-execute its own (ciphertext, keys), compare hashes
                ct = fc.encrypt(xs[k].reshape(1, -1)) if cheat else last_ct
                ok = answer_ok and reexecute(server, fc.evaluation_keys(), ct, sha256_hex(out)).match
                answer_only_misses += cheat and answer_ok
                audited_cheats += cheat
                audited_honest += not cheat
                false_alarms += (not cheat) and not ok
                flagged_cheats += cheat and not ok
                caught |= cheat and not ok
            detected += caught
    finally:
        server.close()
    measured = detected / TRIALS
    closed = detection_probability(F, A, N)
    print(f"\nf={F} a={A} n={N}: measured {measured:.3f} over {TRIALS} trials, closed form {closed:.3f}; "
          f"audited cheats {audited_cheats} (flagged {flagged_cheats}), honest audits {audited_honest}, false alarms {false_alarms}, answer-only check missed {answer_only_misses}")  # fmt: skip
    assert flagged_cheats == audited_cheats  # per-audit detection power is 1
    assert false_alarms == 0 and audited_honest > 0 and audited_cheats > 0
    se = (closed * (1 - closed) / TRIALS) ** 0.5
    assert abs(measured - closed) < 4 * se + 0.02
