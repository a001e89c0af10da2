"""Names on chain are chosen by whoever registers them: the pages and pictures must show them as
text, never as markup. And the pictures' geometry: a lineage drawn parent-before-child, a heatmap
that outlines exactly the weights above consensus."""

from __future__ import annotations

import re

from veilproof.explorer.app import _env
from veilproof.explorer.svg import SCALE, LineageNode, heatmap_svg, lineage_svg

EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_lineage_escapes_names_and_puts_parents_left_of_children() -> None:
    nodes = [
        LineageNode("d1", "dataset 1", "/hash/ab", "dataset"),
        LineageNode("m1", EVIL, "/model/1", "model"),
        LineageNode("m2", "#2 child", "/model/2", "focus"),
    ]
    svg = str(lineage_svg(nodes, [("m1", "m2"), ("d1", "m2")]))
    assert "<script" not in svg and "<img" not in svg and "&lt;script&gt;" in svg
    xs = {k: int(x) for k, x in re.findall(r'data-key="(\w+)"><rect x="(\d+)"', svg)}
    assert xs["m1"] < xs["m2"] and xs["d1"] < xs["m2"]


def test_heatmap_outlines_only_weights_above_consensus() -> None:
    # row a: [1/2, 1/2]; row b: [3/4, 1/4]; consensus [1/2, 1/4]: b's 3/4 and a's 1/2 on column 1 clip
    cons = [SCALE // 2, SCALE // 4]
    svg = str(heatmap_svg([("0xa", "a"), ("0xb", EVIL)], [("/node/1", "n1"), ("/node/2", "n2")],
                          {"0xa": [1, 1], "0xb": [3, 1]}, cons))  # fmt: skip
    assert "<script" not in svg
    clipped = set(re.findall(r'class="cell clipped" data-validator="([^"]+)" data-col="(\d)"', svg))
    assert clipped == {("0xb", "0"), ("0xa", "1")}


def test_pages_escape_model_names() -> None:
    m = {
        "model_id": 1, "name": EVIL, "owner": "0x" + "11" * 20, "price": 10**18, "royalty_bps": 100,
        "zk_vk_hash": "00" * 32, "fhe_server_hash": "ab" * 32, "parents": [], "datasets": [], "jobs": 0,
        "active": True,
    }  # fmt: skip
    html = _env().get_template("models.html").render(models=[m], path="/models", last_block=1, chain_id=1)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'href="/address/0x' + "11" * 20 + '"' in html


def test_a_taken_port_is_one_clear_error() -> None:
    import socket

    import pytest

    from veilproof.errors import ConfigError
    from veilproof.explorer.app import ExplorerServer

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*--port"):
            ExplorerServer(None, "127.0.0.1", port)  # type: ignore[arg-type]  # refused before the app is used
