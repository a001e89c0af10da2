"""Will this circuit fit on this machine? A cheap estimate before EZKL allocates gigabytes.

The estimate is fitted on measured peaks, not guessed: bench/zk.py records the peak RSS of a whole
build+prove per circuit size (bench/results/zk.json, EZKL 23.0.5, 2-core box). Those peaks grow by
~20.7 KiB per row above a ~0.7 GiB floor (interpreter + EZKL + small-circuit tables), e.g. 5.7 GiB at
2^18 rows and 10.9 GiB (11.1 GB) at 2^19. We estimate ``2^logrows * 21 KiB + 720 MiB`` (at or above
every measured peak, within 3 % at 2^19) and refuse only when that estimate *plus a stated 20 % safety
margin* exceeds available memory. The previous rule (40 KiB/row, no fit) said 20.2 GiB for 2^19 rows
and refused an MLP that proves in 11.1 GB — a model that fits must never be refused, and one that
does not must be refused before the OOM killer takes the node down.
"""

from __future__ import annotations

from veilproof.zk.errors import ModelTooLargeError

BYTES_PER_ROW = 21 * 1024
BASE_BYTES = 720 * 2**20
SAFETY_MARGIN = (
    0.20  # headroom over the fitted peak: other processes, allocator fragmentation, wider circuits
)
MAX_LOGROWS = 26  # EZKL / BN254 KZG limit on this SRS family

# (logrows, measured peak RSS in bytes) from bench/results/zk.json; tests check the fit stays above these.
MEASURED_PEAKS: tuple[tuple[int, int], ...] = (
    (11, int(719.5 * 2**20)),
    (14, int(1010.0 * 2**20)),
    (15, int(1185.7 * 2**20)),
    (16, int(1866.3 * 2**20)),
    (17, int(3159.1 * 2**20)),
    (18, int(5826.7 * 2**20)),
    (19, int(11117.7 * 2**20)),
)


def estimate_peak_bytes(logrows: int) -> int:
    """Expected peak RSS of setup+prove for a ``2^logrows``-row circuit (fit on measured peaks)."""
    return (1 << logrows) * BYTES_PER_ROW + BASE_BYTES


def estimate_prove_bytes(logrows: int) -> int:
    """Memory we require before proving: the fitted peak plus the safety margin."""
    return int(estimate_peak_bytes(logrows) * (1 + SAFETY_MARGIN))


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


def largest_logrows_that_fit(available: int | None = None) -> int:
    """The biggest circuit (in log2 rows) this machine may prove; what ``--slices auto`` cuts to."""
    have = available_bytes() if available is None else available
    k = 1
    while k < MAX_LOGROWS and estimate_prove_bytes(k + 1) <= have:
        k += 1
    return k


def check_fits(logrows: int, available: int | None = None) -> None:
    """Raise ModelTooLargeError if a circuit of ``2^logrows`` rows cannot be proved here."""
    have = available_bytes() if available is None else available
    need = estimate_prove_bytes(logrows)
    if logrows > MAX_LOGROWS or need > have:
        raise ModelTooLargeError(logrows, need, have, peak_bytes=estimate_peak_bytes(logrows))
