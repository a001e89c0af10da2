"""Field elements ("felts") of a proof's public instances, and the client-side input commitment.

EZKL serialises BN254 scalars as 32-byte **little-endian** hex. The EVM verifier takes them as
big-endian ``uint256``. Everything public about a job is read from the proof's ``instances`` —
never from ``pretty_public_inputs``, which is an unauthenticated convenience copy a prover can edit.

Layout for our settings (input hashed, output public, params fixed), verified against EZKL 23:
``instances = [poseidon(input felts), out_0, out_1, ...]`` — exactly one felt of commitment, first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from veilproof.zk import _ezkl
from veilproof.zk.settings import CircuitSettings

#: BN254 scalar field modulus; instances are elements of this field.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def felt_hex_to_int(h: str) -> int:
    """EZKL's little-endian hex felt -> integer in [0, p)."""
    return int.from_bytes(bytes.fromhex(h.removeprefix("0x")), "little")


def int_to_felt_hex(v: int) -> str:
    return (v % FIELD_MODULUS).to_bytes(32, "little").hex()


def felt_to_signed(v: int) -> int:
    """Field element -> signed integer (values above p/2 are negatives), as fixed-point numbers are."""
    v %= FIELD_MODULUS
    return v - FIELD_MODULUS if v > FIELD_MODULUS // 2 else v


def outputs_from_instances(settings: CircuitSettings, instances: Sequence[int]) -> list[float]:
    """Dequantise the public outputs (``instances[1:]``) with each output tensor's scale."""
    outs = list(instances[1:])
    if len(outs) != settings.num_outputs:
        raise ValueError(f"expected {settings.num_outputs} output instances, got {len(outs)}")
    scales: list[int] = []
    for shape, scale in zip(settings.output_shapes, settings.output_scales, strict=True):
        scales += [scale] * int(np.prod(shape))
    return [felt_to_signed(v) / float(2**s) for v, s in zip(outs, scales, strict=True)]


def quantize_input(settings: CircuitSettings, x: np.ndarray) -> list[str]:
    """The input as the circuit sees it: fixed-point felts at the input scale (EZKL's own rounding)."""
    flat = np.asarray(x, dtype=np.float32).reshape(-1)
    f32 = _ezkl.ezkl.PyInputType.F32
    return [_ezkl.ezkl.float_to_felt(float(v), settings.input_scale, f32) for v in flat]


def input_commitment(settings: CircuitSettings, x: np.ndarray) -> int:
    """Poseidon commitment of input ``x``, equal to ``instances[0]`` of a proof on ``x``.

    The client computes this locally and puts it in the job before any node sees the input;
    the JobMarket then checks the proof's ``instances[0]`` against it.
    """
    digest = _ezkl.call("poseidon_hash", _ezkl.ezkl.poseidon_hash, quantize_input(settings, x))
    if len(digest) != 1:
        raise ValueError(f"expected one Poseidon felt, EZKL returned {len(digest)}")
    return felt_hex_to_int(digest[0])
