"""Inline SVG for the explorer's pictures: the model lineage graph and the epoch weights heatmap.

Why hand-written SVG rather than a plotting library: the pages stay server-rendered with no
JavaScript, every box can be a link (``<a href>`` inside the SVG), and the markup is small enough to
test. Every label goes through :func:`markupsafe.escape` (model names are chosen by their owners).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

SCALE = 10**18  # Rewards' fixed point for normalised weights and consensus


@dataclass(frozen=True)
class LineageNode:
    key: str  # "m3" (model 3) or "d1" (dataset 1)
    label: str
    href: str
    kind: str  # "model", "dataset" or "focus"


def lineage_svg(nodes: Sequence[LineageNode], edges: Sequence[tuple[str, str]]) -> Markup:
    """A left-to-right layered graph: datasets first, then each model one column right of its
    deepest parent. ``edges`` are ``(from_key, to_key)`` (parent -> child, dataset -> model)."""
    by_key = {n.key: n for n in nodes}
    parents: dict[str, list[str]] = {k: [] for k in by_key}
    for a, b in edges:
        if a in by_key and b in by_key:
            parents[b].append(a)
    depth: dict[str, int] = {}

    def d(k: str, seen: frozenset[str] = frozenset()) -> int:
        if k in depth:
            return depth[k]
        if k in seen:  # a cycle cannot be registered on chain; guard anyway
            return 0
        ps = parents[k]
        depth[k] = 0 if not ps else 1 + max(d(p, seen | {k}) for p in ps)
        return depth[k]

    for k in by_key:
        d(k)
    cols: dict[int, list[str]] = {}
    for k in sorted(by_key, key=lambda k: (depth[k], k)):
        cols.setdefault(depth[k], []).append(k)
    bw, bh, gx, gy, pad = 170, 34, 70, 18, 12
    pos: dict[str, tuple[int, int]] = {}
    for c, keys in cols.items():
        for r, k in enumerate(keys):
            pos[k] = (pad + c * (bw + gx), pad + r * (bh + gy))
    width = pad * 2 + (max(cols, default=0) + 1) * (bw + gx) - gx
    height = pad * 2 + max((len(v) for v in cols.values()), default=1) * (bh + gy) - gy
    out = [
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="model lineage">',
        '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#778"/></marker></defs>',
    ]
    for a, b in edges:
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            out.append(
                f'<line x1="{x1 + bw}" y1="{y1 + bh // 2}" x2="{x2}" y2="{y2 + bh // 2}" '
                'stroke="#778" stroke-width="1.5" marker-end="url(#arr)"/>'
            )
    fills = {"dataset": "#fff4d6", "model": "#e3efff", "focus": "#b9d6ff"}
    for k, (x, y) in pos.items():
        n = by_key[k]
        out.append(
            f'<a href="{escape(n.href)}" class="lnode {n.kind}" data-key="{escape(k)}">'
            f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="6" fill="{fills.get(n.kind, "#eee")}" '
            f'stroke="#456" stroke-width="{2 if n.kind == "focus" else 1}"/>'
            f'<text x="{x + 8}" y="{y + 22}" font-size="13" font-family="sans-serif">'
            f"{escape(n.label[:24])}</text></a>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def heatmap_svg(
    validators: Sequence[tuple[str, str]],
    columns: Sequence[tuple[str, str]],
    weights: Mapping[str, Sequence[int]],
    consensus: Sequence[int] | None = None,
) -> Markup:
    """Validators (rows: ``(address, label)``) by nodes (columns: ``(href, label)``), each cell the
    validator's weight as a share of its row, darker = more. A consensus row (``SCALE`` fixed point)
    is drawn last; a cell above consensus is outlined red: Yuma clips it there."""
    cw, ch, lw, th = 92, 30, 130, 26
    n_rows = len(validators) + (1 if consensus is not None else 0)
    width = lw + cw * max(1, len(columns)) + 10
    height = th + ch * max(1, n_rows) + 10
    out = [
        f'<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="weights heatmap" font-family="sans-serif">'
    ]
    for j, (href, label) in enumerate(columns):
        out.append(
            f'<a href="{escape(href)}" class="col" data-col="{j}"><text x="{lw + j * cw + cw // 2}" y="{th - 8}" font-size="11" '
            f'text-anchor="middle">{escape(label)}</text></a>'
        )
    for i, (addr, label) in enumerate(validators):
        row = list(weights.get(addr, []))
        total = sum(row)
        y = th + i * ch
        out.append(
            f'<a href="/address/{escape(addr)}"><text x="4" y="{y + 19}" font-size="11">{escape(label)}</text></a>'
        )
        for j in range(len(columns)):
            w = row[j] if j < len(row) else 0
            share = w / total if total else 0.0
            # Rewards' own fixed point (floored), so a weight equal to consensus is not "clipped"
            scaled = w * SCALE // total if total else 0
            clipped = bool(consensus is not None and j < len(consensus) and scaled > consensus[j])
            shade = int(255 - 200 * share)
            out.append(
                f'<rect x="{lw + j * cw}" y="{y}" width="{cw - 2}" height="{ch - 2}" '
                f'fill="rgb({shade},{shade},255)" stroke="{"#d22" if clipped else "none"}" '
                f'stroke-width="2" class="cell{" clipped" if clipped else ""}" data-validator="{escape(addr)}" data-col="{j}"><title>{w} ({share:.1%})'
                f"{' clipped at consensus' if clipped else ''}</title></rect>"
                f'<text x="{lw + j * cw + cw // 2}" y="{y + 19}" font-size="11" text-anchor="middle">'
                f"{share:.1%}</text>"
            )
    if consensus is not None:
        y = th + len(validators) * ch
        out.append(f'<text x="4" y="{y + 19}" font-size="11" font-weight="bold">consensus</text>')
        for j in range(len(columns)):
            c = consensus[j] / SCALE if j < len(consensus) else 0.0
            shade = int(255 - 200 * c)
            out.append(
                f'<rect x="{lw + j * cw}" y="{y}" width="{cw - 2}" height="{ch - 2}" '
                f'fill="rgb({shade},255,{shade})"/><text x="{lw + j * cw + cw // 2}" y="{y + 19}" '
                f'font-size="11" text-anchor="middle" font-weight="bold">{c:.1%}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))
