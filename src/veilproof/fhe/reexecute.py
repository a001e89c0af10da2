"""Third-party re-execution of an FHE job.

Why it works -- and where it does not: for a circuit without programmable bootstrapping (logreg:
linear layer only) Concrete's server evaluation is pure integer arithmetic, a deterministic function of
(circuit, evaluation keys, input ciphertext), byte-identical across processes (tested). Anyone holding the
public evaluation keys and the input ciphertext -- no secret key -- can recompute the output ciphertext
and compare its sha256 with the hash the node reported on chain.

Circuits with PBS (xgb, nn) are byte-identical only *within one process*: each PBS uses a floating-point
FFT whose plan is chosen at runtime by timing, so another process (a validator) gets a ciphertext that
decrypts to the same value but differs in low-order noise bits. Measured: 3 processes, 3 different output
hashes for the same xgb job; same process, 8/8 identical. Hash-based re-execution therefore cannot judge
those circuits; :func:`reexecute` refuses them (:class:`NotDeterministic`), told by the committed circuit
itself (:func:`~veilproof.fhe.bundle.circuit_is_deterministic`: bootstrap keys = PBS) or by ``kind``. A
noise-tolerant comparison of the ciphertexts themselves (needs the node's output bytes in a dispute) is
the way to cover them; not implemented yet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from veilproof.artifacts import sha256_hex
from veilproof.fhe.bundle import DETERMINISTIC_KINDS, circuit_is_deterministic
from veilproof.fhe.errors import NotDeterministic
from veilproof.fhe.server import FheServer


@dataclass(frozen=True)
class ReexecutionResult:
    """``match`` is True iff the recomputed output hashes to ``reported_output_hash``."""

    match: bool
    output_hash: str
    reported_output_hash: str
    server_zip_hash: str


def reexecute(
    server_zip: str | os.PathLike[str] | FheServer,
    evaluation_keys: bytes,
    input_ct: bytes,
    reported_output_hash: str,
    *,
    expected_server_hash: str | None = None,
    kind: str | None = None,
) -> ReexecutionResult:
    """Recompute a job's output and compare hashes.

    ``server_zip`` may be a path (a fresh isolated :class:`FheServer` is started and closed; it checks
    ``expected_server_hash`` when given) or a running :class:`FheServer` to reuse (validators re-executing
    many jobs of one model should pass one). ``kind``, when given, must be a deterministic model kind.
    Bad inputs raise the same typed errors as :meth:`FheServer.run`.
    """
    if kind is not None and kind not in DETERMINISTIC_KINDS:
        raise NotDeterministic(f"model kind {kind!r} is not byte-deterministic; re-execution cannot judge it")
    reported = reported_output_hash.lower().removeprefix("0x")
    if isinstance(server_zip, FheServer):
        server, owned = server_zip, False
        if expected_server_hash is not None and server.server_zip_hash != expected_server_hash.lower():
            from veilproof.fhe.errors import CommitmentMismatch

            raise CommitmentMismatch("server.zip", expected_server_hash, server.server_zip_hash)
    else:
        if not circuit_is_deterministic(Path(server_zip)):
            raise NotDeterministic(
                f"{server_zip}: a circuit with programmable bootstrapping is not byte-deterministic"
            )
        server, owned = FheServer(Path(server_zip), expected_hash=expected_server_hash), True
    if not server.deterministic:
        if owned:
            server.close()
        raise NotDeterministic(
            f"server.zip {server.server_zip_hash[:12]}: a circuit with programmable bootstrapping is not "
            "byte-deterministic across processes; re-execution cannot judge it (judge decrypted answers)"
        )
    try:
        out = server.run(input_ct, evaluation_keys)
    finally:
        if owned:
            server.close()
    output_hash = sha256_hex(out)
    return ReexecutionResult(
        match=output_hash == reported,
        output_hash=output_hash,
        reported_output_hash=reported,
        server_zip_hash=server.server_zip_hash,
    )
