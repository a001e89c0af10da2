"""Will this circuit fit on this machine? A cheap estimate before EZKL allocates gigabytes.

Measured on EZKL 23 (2-core box): the proving key is ~10 KiB per row, and peak RSS of setup/prove is
~3-4x the key plus the interpreter. We estimate ``2^logrows * 40 KiB + 256 MiB`` and refuse when
that exceeds available memory, instead of letting the OOM killer take the node down.
"""

from __future__ import annotations

from veilproof.zk.errors import ModelTooLargeError

BYTES_PER_ROW = 40 * 1024
BASE_BYTES = 256 * 2**20
MAX_LOGROWS = 26  # EZKL / BN254 KZG limit on this SRS family


def estimate_prove_bytes(logrows: int) -> int:
    return (1 << logrows) * BYTES_PER_ROW + BASE_BYTES


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux); falls back to a large number elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 40


def check_fits(logrows: int, available: int | None = None) -> None:
    """Raise ModelTooLargeError if a circuit of ``2^logrows`` rows cannot be proved here."""
    have = available_bytes() if available is None else available
    need = estimate_prove_bytes(logrows)
    if logrows > MAX_LOGROWS or need > have:
        raise ModelTooLargeError(logrows, need, have)
