"""ECIES over secp256k1: a ZK job's input is encrypted to the one node that will prove it.

Why: a verified (non-FHE) job still should not leak its input to the network or a proxy; only the
node assigned on chain, whose public key is in NodeRegistry, can open it.
"""

from __future__ import annotations

import ecies

from veilproof.errors import InputError


def encrypt_for_node(node_pubkey: bytes, plaintext: bytes) -> bytes:
    if len(node_pubkey) not in (33, 65):
        raise InputError(
            "node pubkey", "a 33-byte compressed or 65-byte secp256k1 public key", node_pubkey.hex()
        )
    return bytes(ecies.encrypt(node_pubkey, plaintext))


def decrypt_for_node(node_secret: bytes, envelope: bytes) -> bytes:
    try:
        return bytes(ecies.decrypt(node_secret, envelope))
    except Exception as e:  # eciespy raises ValueError / library errors for any malformed envelope
        raise InputError("encrypted_input", "an ECIES envelope for this node's public key") from e
