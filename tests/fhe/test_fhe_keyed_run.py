"""``FheServer.run_keyed``: a node names a job's evaluation keys by hash and reads them only when the
worker does not hold them; keys that do not hash to their name are refused."""

from __future__ import annotations

import numpy as np
import pytest

from veilproof.artifacts import sha256_hex
from veilproof.fhe import EvaluationKeyError, FheServer


def test_keys_are_read_once_and_checked_against_their_name(fhe_world) -> None:  # type: ignore[no-untyped-def]
    b = fhe_world.bundle("logreg")
    server = FheServer(b.server_zip_path, b.server_zip_hash)  # a fresh worker: holds no keys yet
    client = fhe_world.client("logreg", "keyed")
    keys = client.evaluation_keys()
    reads: list[int] = []

    def load() -> bytes:
        reads.append(1)
        return keys

    x = fhe_world.data.x_test[:2]
    try:
        _run_twice_then_misnamed(server, client, keys, load, reads, x, fhe_world)
    finally:
        server.close()


def _run_twice_then_misnamed(server, client, keys, load, reads, x, fhe_world) -> None:  # type: ignore[no-untyped-def]
    outs = [server.run_keyed(client.encrypt(x[i]), sha256_hex(keys), load) for i in range(2)]
    assert len(reads) == 1  # the second job found the keys in the worker
    assert {"run", "ipc"} <= set(server.phases)
    probs = [client.decrypt(o) for o in outs]
    clear = fhe_world.clear_proba("logreg", x)
    assert [int(np.argmax(p)) for p in probs] == [int(np.argmax(c)) for c in clear]
    with pytest.raises(EvaluationKeyError):  # another client's keys under this client's name
        server.run_keyed(client.encrypt(x[0]), "00" * 32, lambda: keys)
