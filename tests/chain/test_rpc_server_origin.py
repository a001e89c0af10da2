"""The embedded dev JSON-RPC server answers only local, non-browser callers (issue #12).

Its accounts are unlocked (``eth_sendTransaction`` signs for them), so any web page the developer
opens could move their dev funds or poke the chain: by a cross-origin POST (CSRF: a browser sends a
"simple" ``text/plain`` POST without asking first and only hides the answer), or by DNS rebinding
(``evil.example`` re-resolves to 127.0.0.1, the page becomes "same origin" and reads the answers
too). The server refuses a Host that is not 127.0.0.1/localhost at its own port (rebinding), and any
request carrying an Origin header unless that origin was allowed when the server started.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from veilproof.chain.dev.rpc_server import EmbeddedRpcServer

CALL = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedRpcServer]:
    srv = EmbeddedRpcServer(allowed_origins=("http://localhost:5173",)).start()
    yield srv
    srv.stop()


def _post(srv: EmbeddedRpcServer, headers: dict[str, str], body: object = CALL) -> httpx.Response:
    # text/plain: what a page's fetch() can send cross-origin without a CORS preflight
    h = {"Content-Type": "text/plain", **headers}
    return httpx.post(srv.url, content=json.dumps(body), headers=h, timeout=10)


def _accounts(srv: EmbeddedRpcServer) -> list[str]:
    body = {"jsonrpc": "2.0", "id": 2, "method": "eth_accounts", "params": []}
    return list(httpx.post(srv.url, json=body, timeout=10).json()["result"])


def test_local_tools_are_served(server: EmbeddedRpcServer) -> None:
    """web3, curl, our nodes: no Origin, Host = 127.0.0.1 or localhost at the server's port."""
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        r = _post(server, {"Host": host})
        assert r.status_code == 200 and "result" in r.json(), (host, r.text)


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}", "localhost:1", "127.0.0.1"],
)
def test_dns_rebinding_is_refused(server: EmbeddedRpcServer, host: str) -> None:
    """A rebound name reaches our socket with the attacker's Host; it never gets an answer."""
    balance_before = httpx.post(
        server.url, json={"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []}, timeout=10
    ).json()["result"]
    acct = _accounts(server)[0]
    send = {
        "jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction",
        "params": [{"from": acct, "to": "0x" + "ee" * 20, "value": hex(10**18)}],
    }  # fmt: skip
    r = _post(server, {"Host": host.format(port=server.port)}, send)
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == -32001 and "Host" in err["message"]
    after = httpx.post(
        server.url, json={"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []}, timeout=10
    ).json()["result"]
    assert after == balance_before  # nothing was mined


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:8080"])
def test_cross_origin_browser_requests_are_refused(server: EmbeddedRpcServer, origin: str) -> None:
    """CSRF: the page's POST arrives with a good Host but the page's Origin."""
    r = _post(server, {"Host": f"127.0.0.1:{server.port}", "Origin": origin})
    assert r.status_code == 403, r.text
    assert "Origin" in r.json()["error"]["message"]
    assert "access-control-allow-origin" not in r.headers
    pre = httpx.options(server.url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers


def test_an_allowed_origin_is_served_with_cors(server: EmbeddedRpcServer) -> None:
    """A local dapp the developer allowed at start (``--allow-origin``) works from the browser."""
    origin = "http://localhost:5173"
    pre = httpx.options(
        server.url,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == origin
    r = _post(server, {"Host": f"localhost:{server.port}", "Origin": origin})
    assert r.status_code == 200 and "result" in r.json()
    assert r.headers["access-control-allow-origin"] == origin
    # the allowance covers that origin, not its Host: a rebound name is still refused
    r = _post(server, {"Host": f"evil.example:{server.port}", "Origin": origin})
    assert r.status_code == 403


def test_served_chain_still_works_for_web3(server: EmbeddedRpcServer) -> None:
    from veilproof.chain import connect

    net = connect(server.url)
    assert net.chain_id == int(_post(server, {"Host": f"127.0.0.1:{server.port}"}).json()["result"], 16)
