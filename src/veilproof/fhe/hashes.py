"""The hash record of one FHE job.

Why: FHE output cannot be checked by looking at it, so the node commits to everything that determines
it. Evaluation is deterministic given (circuit, evaluation keys, input ciphertext), so anyone holding
those three can re-execute and compare against ``output_hash``. The input commitment of an FHE job is
``input_hash`` = sha256 of the input ciphertext bytes exactly as sent to the node.
"""

from __future__ import annotations

from veilproof.artifacts import sha256_hex


def job_hashes(eval_keys: bytes, input_ct: bytes, output_ct: bytes, server_zip_hash: str) -> dict[str, str]:
    """sha256 hex of each part of a job: keys, input, output, and the circuit commitment (passed through).

    Keys are named as the node reports them on chain.
    """
    return {
        "eval_keys_hash": sha256_hex(eval_keys),
        "input_hash": sha256_hex(input_ct),
        "output_hash": sha256_hex(output_ct),
        "server_zip_hash": server_zip_hash.lower().removeprefix("0x"),
    }
