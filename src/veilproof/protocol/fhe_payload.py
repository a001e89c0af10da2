"""What a client signs for an FHE job (the ciphertext is too large to hash twice, so its digest is signed)."""

from __future__ import annotations


def fhe_signed_payload(ciphertext_sha256: str, eval_keys_sha256: str) -> bytes:
    """Bind the request to the input ciphertext and to the evaluation keys the node must use."""
    return b"veilproof-fhe/1" + bytes.fromhex(ciphertext_sha256) + bytes.fromhex(eval_keys_sha256)
