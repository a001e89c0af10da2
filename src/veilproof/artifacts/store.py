"""A directory of blobs named by their sha256.

Why content addressing: a model's commitments on chain are sha256 digests, so the digest is also
the only name a node needs to fetch, cache and check an artifact. Writes go to a temporary file and
are renamed into place, so a crash never leaves a half-written blob under a valid name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from veilproof.errors import ArtifactError, InputError, IntegrityError

_CHUNK = 1 << 20


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check_digest(digest: str) -> str:
    d = digest.lower().removeprefix("0x")
    if len(d) != 64 or any(c not in "0123456789abcdef" for c in d):
        raise InputError("digest", "64 hex characters (sha256)", digest)
    return d


class ArtifactStore:
    """Blobs under ``root/ab/abcdef...``; safe to share between processes on one machine."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        d = _check_digest(digest)
        return self.root / d[:2] / d

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_hex(data)
        target = self.path(digest)
        if not target.exists():
            self._atomic_write(target, lambda f: f.write(data))
        return digest

    def put_file(self, src: str | os.PathLike[str]) -> str:
        """Copy a file in (streaming, so multi-GB proving keys never sit in memory)."""
        digest = sha256_file(src)
        target = self.path(digest)
        if not target.exists():
            with open(src, "rb") as s:
                self._atomic_write(target, lambda f: shutil.copyfileobj(s, f, _CHUNK))
        return digest

    def get_bytes(self, digest: str) -> bytes:
        return self.open_verified(digest).read_bytes()

    def open_verified(self, digest: str) -> Path:
        """Return the blob's path after re-hashing it: a blob edited on disk is refused."""
        p = self.path(digest)
        if not p.is_file():
            raise ArtifactError(f"artifact {digest} not in store {self.root}")
        actual = sha256_file(p)
        if actual != _check_digest(digest):
            raise IntegrityError(str(p), digest, actual)
        return p

    def _atomic_write(self, target: Path, write: Callable[[BinaryIO], object]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
