"""What a client signs for an FHE job (the ciphertext is too large to hash twice, so its digest is signed)."""

from __future__ import annotations


def fhe_signed_payload(ciphertext_sha256: str, eval_keys_sha256: str) -> bytes:
    """Bind the request to the input ciphertext and to the evaluation keys the node must use."""
    return b"veilproof-fhe/1" + bytes.fromhex(ciphertext_sha256) + bytes.fromhex(eval_keys_sha256)


def fhe_keys_signed_payload(eval_keys_sha256: str) -> bytes:
    """What a client signs to upload evaluation keys (``PUT /fhe/keys``) for one of its open FHE jobs on
    the node: the keys' digest, under the same request context as the job's submission
    (:class:`veilproof.protocol.signing.RequestSig`). The node checks it before reading the body."""
    return b"veilproof-fhe-keys/1" + bytes.fromhex(eval_keys_sha256)
