"""Commitments to a round: update hashes, their Merkle root, and the re-aggregation check.

What goes on chain per round (TrainingMarket.post_round): the aggregated model's hash, the participant set
and the Merkle root of ``leaf(participant, update_hash)`` over the updates the coordinator received. A client
proves its update was included with :func:`merkle_proof` (checked by the contract's ``verify_inclusion``
and by :func:`verify_proof` here). Anyone holding the committed updates re-runs :func:`aggregate` and
compares the hash (:func:`check_round`): the aggregation is a pure numpy function of the updates in
participant-address order, so the result is bit-identical on the same numpy/flwr versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from flwr.serverapp.strategy.fedtrimmedavg import trim_mean

from veilproof.errors import ConfigError, VeilproofError
from veilproof.fl.model import Arrays
from veilproof.fl.sign import UpdateDomain

TRIM_BETA = 0.25  # cut 1 of 4 or 5 updates at each end of every coordinate


class ReaggregationMismatch(VeilproofError):
    """The model hash the coordinator posted is not what the committed updates aggregate to."""


def arrays_hash(a: Arrays) -> bytes:
    """keccak256 of a canonical encoding: for each key in sorted order, name, dtype, shape and raw bytes."""
    parts: list[bytes] = []
    for k in sorted(a):
        v = np.ascontiguousarray(a[k], dtype="<f8")
        parts += [k.encode(), b"\0", str(v.shape).encode(), b"\0", v.tobytes()]
    return keccak(b"".join(parts))


def aggregate(updates: list[Arrays], beta: float = TRIM_BETA) -> Arrays:
    """Flower's coordinate-wise trimmed mean (``FedTrimmedAvg``'s ``trim_mean``) of ``updates``.

    The caller passes them in participant-address order; the server app does the same."""
    if not updates:
        raise ConfigError("nothing to aggregate: a round needs at least one update")
    return {k: np.asarray(trim_mean(np.stack([u[k] for u in updates]), beta)) for k in updates[0]}


def aggregate_round(rec: RoundRecord, updates: list[Arrays]) -> Arrays:
    """The round's model: the trimmed mean, plus (DP on) the noise seeded by the round's updates root."""
    agg = aggregate(updates)
    if rec.noise_multiplier > 0:
        from veilproof.fl.dp import add_noise

        agg = add_noise(agg, rec.noise_multiplier, rec.clipping_norm, len(updates), rec.root)
    return agg


def leaf(participant: str, update_hash: bytes) -> bytes:
    """A Merkle leaf: keccak256(keccak256(abi.encode(participant, update_hash))) (double hash: a leaf is
    never a valid inner node)."""
    return keccak(keccak(encode(["address", "bytes32"], [to_checksum_address(participant), update_hash])))


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def merkle_root(leaves: list[bytes]) -> bytes:
    """Root over sorted-pair hashing (an odd node is carried up unchanged); the zero word for no leaves."""
    level = list(leaves)
    if not level:
        return b"\0" * 32
    while len(level) > 1:
        nxt = [_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` to the root."""
    proof: list[bytes] = []
    level, i = list(leaves), index
    while len(level) > 1:
        sib = i ^ 1
        if sib < len(level):
            proof.append(level[sib])
        nxt = [_pair(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level, i = nxt, i // 2
    return proof


def verify_proof(root: bytes, lf: bytes, proof: list[bytes]) -> bool:
    h = lf
    for p in proof:
        h = _pair(h, p)
    return h == root


@dataclass(frozen=True)
class RoundRecord:
    """One round as the server app wrote it to the job directory (``round-NNN.json`` + ``.npz``)."""

    round: int
    global_hash: bytes  # the model the clients were sent
    participants: list[str]  # address order = aggregation order = leaf order
    update_hashes: list[bytes]
    aggregated_hash: bytes
    scores: list[int]  # contribution per participant (ppm of validation log-loss improvement)
    loo: list[float]  # leave-one-out, reported only
    val_loss: float
    val_accuracy: float
    seconds: float
    signatures: list[bytes] = field(default_factory=list)  # each sender's FlUpdate signature (fl.sign)
    noise_multiplier: float = 0.0  # DP (fl.dp): 0 = off
    clipping_norm: float = 0.0

    @property
    def root(self) -> bytes:
        return merkle_root([leaf(p, h) for p, h in zip(self.participants, self.update_hashes, strict=True)])

    def to_json(self) -> dict[str, object]:
        return {
            "round": self.round,
            "global_hash": self.global_hash.hex(),
            "participants": self.participants,
            "update_hashes": [h.hex() for h in self.update_hashes],
            "aggregated_hash": self.aggregated_hash.hex(),
            "scores": self.scores,
            "loo": self.loo,
            "val_loss": self.val_loss,
            "val_accuracy": self.val_accuracy,
            "seconds": self.seconds,
            "signatures": [s.hex() for s in self.signatures],
            "noise_multiplier": self.noise_multiplier,
            "clipping_norm": self.clipping_norm,
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> RoundRecord:
        try:
            return cls(
                round=int(d["round"]),  # type: ignore[call-overload]
                global_hash=bytes.fromhex(str(d["global_hash"])),
                participants=[str(p) for p in d["participants"]],  # type: ignore[attr-defined]
                update_hashes=[bytes.fromhex(h) for h in d["update_hashes"]],  # type: ignore[attr-defined]
                aggregated_hash=bytes.fromhex(str(d["aggregated_hash"])),
                scores=[int(s) for s in d["scores"]],  # type: ignore[attr-defined]
                loo=[float(x) for x in d["loo"]],  # type: ignore[attr-defined]
                val_loss=float(d["val_loss"]),  # type: ignore[arg-type]
                val_accuracy=float(d["val_accuracy"]),  # type: ignore[arg-type]
                seconds=float(d["seconds"]),  # type: ignore[arg-type]
                signatures=[bytes.fromhex(s) for s in d.get("signatures", [])],  # type: ignore[attr-defined]
                noise_multiplier=float(d.get("noise_multiplier", 0.0)),  # type: ignore[arg-type]
                clipping_norm=float(d.get("clipping_norm", 0.0)),  # type: ignore[arg-type]
            )
        except (KeyError, ValueError, TypeError) as e:
            raise ConfigError(f"round record is malformed ({e}): expected what server_app writes") from e


def round_path(job_dir: Path, rnd: int) -> Path:
    return Path(job_dir) / f"round-{rnd:03d}.json"


def write_round(job_dir: Path, rec: RoundRecord, updates: list[Arrays], global_arrays: Arrays) -> None:
    """Write the updates first and the JSON last (atomically): a reader that sees the JSON sees it all."""
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    flat: dict[str, np.ndarray] = {f"global/{k}": v for k, v in global_arrays.items()}
    for p, u in zip(rec.participants, updates, strict=True):
        flat.update({f"{p}/{k}": v for k, v in u.items()})
    np.savez(job_dir / f"round-{rec.round:03d}.npz", **flat)
    tmp = round_path(job_dir, rec.round).with_suffix(".tmp")
    tmp.write_text(json.dumps(rec.to_json(), indent=1))
    tmp.replace(round_path(job_dir, rec.round))


def read_round(job_dir: Path, rnd: int) -> tuple[RoundRecord, list[Arrays], Arrays]:
    p = round_path(job_dir, rnd)
    if not p.is_file():
        raise ConfigError(f"no round {rnd} in {job_dir}: the coordinator has not finished it")
    rec = RoundRecord.from_json(json.loads(p.read_text()))
    with np.load(Path(job_dir) / f"round-{rnd:03d}.npz") as z:
        g = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("global/")}
        ups = [
            {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(f"{p_}/")} for p_ in rec.participants
        ]
    return rec, ups, g


def check_round(
    job_dir: Path, rnd: int, posted_model_hash: bytes, posted_root: bytes, domain: UpdateDomain | None = None
) -> None:
    """Anyone's re-aggregation check: the committed updates hash to the posted leaves, each is signed by the
    participant it is attributed to (when ``domain`` names the job), and they aggregate to the posted model.
    Raises ReaggregationMismatch naming what differs."""
    rec, ups, _ = read_round(job_dir, rnd)
    got = [arrays_hash(u) for u in ups]
    if got != rec.update_hashes:
        raise ReaggregationMismatch(f"round {rnd}: the stored updates do not hash to the committed ones")
    if domain is not None:
        if len(rec.signatures) != len(rec.participants):
            raise ReaggregationMismatch(
                f"round {rnd}: {len(rec.signatures)} signatures for {len(rec.participants)} participants"
            )
        for p, h, sig in zip(rec.participants, rec.update_hashes, rec.signatures, strict=True):
            if domain.signer(rnd, h, sig).lower() != p.lower():
                raise ReaggregationMismatch(f"round {rnd}: the update attributed to {p} is not signed by it")
    if rec.root != posted_root:
        raise ReaggregationMismatch(f"round {rnd}: the updates' Merkle root is not the one posted on chain")
    agg = arrays_hash(aggregate_round(rec, ups))
    if agg != posted_model_hash:
        raise ReaggregationMismatch(
            f"round {rnd}: the committed updates aggregate to {agg.hex()}, "
            f"the coordinator posted {posted_model_hash.hex()}"
        )
