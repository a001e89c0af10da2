"""Fetch a blob by digest from a peer's ``GET /artifacts/{sha256}`` and keep it only if it hashes right.

Peers are untrusted: what they send is streamed to a temporary file, hashed, and renamed into the
store only when the digest matches the one asked for.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import httpx

from veilproof.artifacts.store import ArtifactStore
from veilproof.errors import ArtifactError, IntegrityError
from veilproof.protocol.api import ARTIFACT


def fetch_artifact(store: ArtifactStore, digest: str, sources: list[str], timeout: float = 120.0) -> Path:
    """Return the local path of ``digest``, downloading it from the first source that has it."""
    if store.has(digest):
        return store.open_verified(digest)
    errors: list[str] = []
    for base in sources:
        url = base.rstrip("/") + ARTIFACT.format(digest=digest)
        target = store.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".dl-")
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as f, httpx.stream("GET", url, timeout=timeout) as r:
                if r.status_code != 200:
                    errors.append(f"{url}: HTTP {r.status_code}")
                    continue
                for chunk in r.iter_bytes(1 << 20):
                    h.update(chunk)
                    f.write(chunk)
            if h.hexdigest() != digest:
                errors.append(str(IntegrityError(url, digest, h.hexdigest())))
                continue
            os.replace(tmp, target)
            return target
        except httpx.HTTPError as e:
            errors.append(f"{url}: {e}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    raise ArtifactError(f"artifact {digest} not found on any source: {'; '.join(errors) or 'no sources'}")
