"""Serve the embedded py-evm chain over JSON-RPC on 127.0.0.1.

Why: the embedded chain lives inside one process, but nodes and validators are separate
processes. The process that owns the chain (``veilproof demo``, ``veilproof chain up --embedded``)
serves it here so that they all see one chain, still with nothing to install.

Requests go through web3's own eth-tester middleware (so params and results get the same
formatting a local ``Web3(EthereumTesterProvider())`` would see) and are turned back into
standard hex-encoded JSON-RPC. Reverts become the standard ``{"code": 3, "data": ...}`` error,
which clients map to ``ContractLogicError`` with the reason, as with geth or anvil.

Why Host and Origin are checked: the chain's accounts are unlocked, and listening on 127.0.0.1
does not keep web pages out. A page the developer visits can POST to it cross-origin (CSRF: a
``text/plain`` POST needs no preflight; the browser only hides the answer) or rebind its own name
to 127.0.0.1 (DNS rebinding: then it reads the answers too). Our callers (web3, nodes, curl) send
``Host: 127.0.0.1:<port>`` or ``localhost:<port>`` and no ``Origin``; a browser always sends the
page's ``Origin`` on a POST and the name it resolved as ``Host``. So any other Host is refused, and
so is any Origin not allowed when the server started (``allowed_origins``, ``--allow-origin``:
e.g. a local dapp, which then also gets CORS headers).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_abi import encode
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from veilproof.chain.dev.embedded import EmbeddedBackend
from veilproof.chain.reverts import ERROR_SELECTOR, reason_of
from veilproof.errors import InputError

MAX_BODY = 8 * 1024 * 1024
LOCAL_HOSTS = ("127.0.0.1", "localhost")
FORBIDDEN = -32001  # JSON-RPC server error range: request refused by the server's access rules


def _to_rpc(value: Any) -> Any:
    """web3-formatted value → JSON-RPC wire value (quantities and bytes as 0x hex)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray, HexBytes)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _to_rpc(v) for k, v in dict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_to_rpc(v) for v in value]
    return value


class EmbeddedRpc:
    """Dispatches JSON-RPC requests to one embedded backend, one at a time (py-evm is not thread-safe)."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._just_advanced = False

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        rid = req.get("id")
        method = req.get("method")
        params = req.get("params") or []
        if not isinstance(method, str) or not isinstance(params, list):
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32600, "message": "invalid request"}}
        try:
            with self._lock:
                result = self._dispatch(method, params)
            return {"jsonrpc": "2.0", "id": rid, "result": result}
        except (ContractLogicError, TransactionFailed) as e:
            reason = reason_of(e)
            data = "0x" + (ERROR_SELECTOR + encode(["string"], [reason])).hex()
            return {
                "jsonrpc": "2.0",
                "id": rid,
                "error": {"code": 3, "message": f"execution reverted: {reason}", "data": data},
            }
        except Exception as e:
            msg = str(e) or type(e).__name__
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": msg[:500]}}

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        if method == "evm_setNextBlockTimestamp":
            self.backend.advance_to(int(params[0], 16) if isinstance(params[0], str) else int(params[0]))
            self._just_advanced = True
            return None
        if method == "evm_increaseTime":
            self.backend.time_travel(int(params[0], 16) if isinstance(params[0], str) else int(params[0]))
            return 0
        if method == "evm_mine":
            if self._just_advanced:
                self._just_advanced = False  # advance_to already mined the block at that timestamp
            else:
                self.backend.tester.mine_blocks(1)
            return "0x0"
        if method in ("anvil_setBalance", "hardhat_setBalance"):
            addr, target = params[0], int(params[1], 16)
            have = self.backend.w3.eth.get_balance(addr)
            if target > have:
                self.backend.fund(addr, target - have)
            return True
        result = self.backend.w3.manager.request_blocking(RPCEndpoint(method), params)
        return _to_rpc(result)


class _Handler(BaseHTTPRequestHandler):
    rpc: EmbeddedRpc
    allowed_origins: frozenset[str] = frozenset()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: requests are not worth a log line
        return

    def _refusal(self) -> str | None:
        """Why this request may not be served (None: it may). See the module docstring."""
        port = int(self.server.server_address[1])  # type: ignore[index]  # AF_INET: (host, port)
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in {f"{h}:{port}" for h in LOCAL_HOSTS}:
            return f"Host {host[:100]!r} refused: only 127.0.0.1:{port} or localhost:{port} (DNS rebinding guard)"
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.allowed_origins:
            return (
                f"Origin {origin[:100]!r} refused: browser pages may not use this dev chain; "
                "start it with --allow-origin <origin> to allow one"
            )
        return None

    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin in self.allowed_origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")

    def do_OPTIONS(self) -> None:
        """CORS preflight: answered only for an allowed origin."""
        why = self._refusal()
        if why is not None:
            self._send({"jsonrpc": "2.0", "id": None, "error": {"code": FORBIDDEN, "message": why}}, 403)
            return
        self.send_response(204)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        why = self._refusal()
        if why is not None:
            self._send({"jsonrpc": "2.0", "id": None, "error": {"code": FORBIDDEN, "message": why}}, 403)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self.send_error(413 if length > MAX_BODY else 400)
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            self._send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            return
        if isinstance(body, list):
            self._send([self.rpc.handle(r) for r in body if isinstance(r, dict)])
        elif isinstance(body, dict):
            self._send(self.rpc.handle(body))
        else:
            self._send(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
            )

    def _send(self, obj: Any, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        if status < 400:
            self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a killed node) is not an error worth a traceback."""
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class EmbeddedRpcServer:
    """A background HTTP server on 127.0.0.1 serving one embedded chain.

    ``allowed_origins``: exact browser origins (``scheme://host[:port]``) that may call it; none by
    default, so no web page can.
    """

    def __init__(
        self, backend: EmbeddedBackend | None = None, port: int = 0, allowed_origins: Iterable[str] = ()
    ) -> None:
        self.backend = backend or EmbeddedBackend()
        origins = frozenset(o.rstrip("/") for o in allowed_origins)
        if "*" in origins or "null" in origins:
            raise InputError("allowed_origins", "exact origins such as http://localhost:5173", "*/null")
        handler = type("Handler", (_Handler,), {"rpc": EmbeddedRpc(self.backend), "allowed_origins": origins})
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="embedded-rpc", daemon=True)

    def start(self) -> EmbeddedRpcServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
