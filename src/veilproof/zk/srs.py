"""Structured reference strings (KZG) for EZKL circuits.

A real deployment uses a ceremony SRS (e.g. the perpetual powers of tau), given by path. For
development and tests we *generate* one locally with ``ezkl.gen_srs`` because ``get_srs`` needs the
internet — and a locally generated SRS is **unsafe**: whoever generated it knows the toxic waste and
can forge proofs. We warn loudly every time one is used.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from veilproof.artifacts import ArtifactStore
from veilproof.zk import _ezkl


class UnsafeSrsWarning(UserWarning):
    """A locally generated SRS is in use: fine for dev/test, forgeable in production."""


@dataclass(frozen=True)
class Srs:
    path: Path
    digest: str
    logrows: int
    generated: bool  # True = dev SRS from gen_srs (unsafe)


def _ref(store: ArtifactStore, logrows: int) -> Path:
    return store.root / "refs" / f"srs-dev-k{logrows}"


def warn_unsafe(logrows: int) -> None:
    warnings.warn(
        f"using a locally GENERATED KZG SRS (logrows={logrows}): anyone holding its secret can forge "
        "proofs. Dev/test only — pass a ceremony SRS (srs_path=...) in production.",
        UnsafeSrsWarning,
        stacklevel=3,
    )


def dev_srs(store: ArtifactStore, logrows: int) -> Srs:
    """A generated SRS for ``logrows``, cached in the store (one per logrows)."""
    ref = _ref(store, logrows)
    if ref.is_file():
        digest = ref.read_text().strip()
        if store.has(digest):
            warn_unsafe(logrows)
            return Srs(store.open_verified(digest), digest, logrows, generated=True)
    with tempfile.TemporaryDirectory(dir=store.root) as td:
        tmp = Path(td) / f"k{logrows}.srs"
        _ezkl.call("gen_srs", _ezkl.ezkl.gen_srs, str(tmp), logrows)
        digest = store.put_file(tmp)
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp_ref = ref.with_suffix(".tmp")
    tmp_ref.write_text(digest)
    os.replace(tmp_ref, ref)
    warn_unsafe(logrows)
    return Srs(store.path(digest), digest, logrows, generated=True)


def ceremony_srs(store: ArtifactStore, path: str | os.PathLike[str], logrows: int) -> Srs:
    """Adopt a ceremony SRS file (must cover at least ``logrows``; EZKL reduces larger ones)."""
    digest = store.put_file(path)
    return Srs(store.path(digest), digest, logrows, generated=False)


def get_srs(store: ArtifactStore, logrows: int, srs_path: str | os.PathLike[str] | None = None) -> Srs:
    return ceremony_srs(store, srs_path, logrows) if srs_path else dev_srs(store, logrows)
