"""A node fetching model artifacts from a peer takes at most ``max_artifact_bytes`` from it: a hostile
peer that streams forever (or declares a huge body) is cut off before it fills the disk, and the next
source is tried. A real HTTP server plays the peer."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from veilproof.artifacts import ArtifactStore
from veilproof.artifacts.remote import fetch_artifact
from veilproof.errors import ArtifactError

GOOD = b"model bytes " * 100
DIGEST = hashlib.sha256(GOOD).hexdigest()


class _Peer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        mode = self.path.split("/")[1]
        self.send_response(200)
        if mode == "declares":
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            return
        if mode == "good":
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD)
            return
        self.end_headers()  # "endless": no length, streams until the client hangs up
        try:
            for _ in range(10_000):
                self.wfile.write(b"\0" * 65536)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Peer)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()


@pytest.mark.parametrize("mode", ["endless", "declares"])
def test_a_peer_sending_too_much_is_cut_off_and_the_next_source_used(
    tmp_path: Path, peer: str, mode: str
) -> None:
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(ArtifactError, match="limit of 1048576"):
        fetch_artifact(store, DIGEST, [f"{peer}/{mode}"], max_bytes=1 << 20)
    assert not store.has(DIGEST)
    assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file()], "partial download left behind"
    path = fetch_artifact(store, DIGEST, [f"{peer}/{mode}", f"{peer}/good"], max_bytes=1 << 20)
    assert path.read_bytes() == GOOD
