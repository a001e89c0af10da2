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
from veilproof.protocol.http import tls_context

#: The most one download may bring (a peer that streams forever is cut off here); callers lower it.
MAX_ARTIFACT_BYTES = 4 * 1024**3


def fetch_artifact(
    store: ArtifactStore,
    digest: str,
    sources: list[str],
    timeout: float = 120.0,
    max_bytes: int = MAX_ARTIFACT_BYTES,
) -> Path:
    """Return the local path of ``digest``, downloading it from the first source that has it.

    A source that declares, or sends, more than ``max_bytes`` is dropped (and the next one tried):
    a hostile peer must not fill the disk before the digest check can refuse its bytes."""
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
            with (
                os.fdopen(fd, "wb") as f,
                httpx.stream("GET", url, timeout=timeout, verify=tls_context()) as r,
            ):
                if r.status_code != 200:
                    errors.append(f"{url}: HTTP {r.status_code}")
                    continue
                declared = r.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    errors.append(f"{url}: declares {declared} bytes, over the limit of {max_bytes}")
                    continue
                size = 0
                for chunk in r.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        break
                    h.update(chunk)
                    f.write(chunk)
                if size > max_bytes:
                    errors.append(f"{url}: sent more than the limit of {max_bytes} bytes")
                    continue
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
