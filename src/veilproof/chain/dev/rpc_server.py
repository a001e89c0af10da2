"""Serve the embedded py-evm chain over JSON-RPC on 127.0.0.1.

Why: the embedded chain lives inside one process, but nodes and validators are separate
processes. The process that owns the chain (``veilproof demo``, ``veilproof chain up --embedded``)
serves it here so that they all see one chain, still with nothing to install.

Requests go through web3's own eth-tester middleware (so params and results get the same
formatting a local ``Web3(EthereumTesterProvider())`` would see) and are turned back into
standard hex-encoded JSON-RPC. Reverts become the standard ``{"code": 3, "data": ...}`` error,
which clients map to ``ContractLogicError`` with the reason, as with geth or anvil.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_abi import encode
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from veilproof.chain.dev.embedded import EmbeddedBackend
from veilproof.chain.reverts import ERROR_SELECTOR, reason_of

MAX_BODY = 8 * 1024 * 1024


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

    def log_message(self, format: str, *args: Any) -> None:  # quiet: requests are not worth a log line
        return

    def do_POST(self) -> None:
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

    def _send(self, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(200)
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
    """A background HTTP server on 127.0.0.1 serving one embedded chain."""

    def __init__(self, backend: EmbeddedBackend | None = None, port: int = 0) -> None:
        self.backend = backend or EmbeddedBackend()
        handler = type("Handler", (_Handler,), {"rpc": EmbeddedRpc(self.backend)})
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
