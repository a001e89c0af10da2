"""HTTP clients that share one TLS context per process.

Why: ``httpx.Client()`` builds a new ``ssl.SSLContext`` and loads the CA bundle every time it is
created, ~17 ms of CPU here. A buyer that made a client per artifact download, per node probe or per
job paid that several times per job, next to a proof check of ~20 ms. An ``SSLContext`` is safe to
share between clients and threads, so every client of this process gets the same one; plain
``http://`` endpoints (loopback nodes) never use it.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (system CA bundle, ``SSL_CERT_FILE`` honoured), built once."""
    return httpx.create_ssl_context()


def http_client(timeout: float) -> httpx.Client:
    """An ``httpx.Client`` with ``timeout`` (seconds) and the process's shared TLS context."""
    return httpx.Client(timeout=timeout, verify=tls_context())
