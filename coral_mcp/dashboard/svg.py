"""Inline SVG drawn on the server: the service map and metric charts. Pure functions of
their inputs (no I/O, no clock), so pages render the same in any browser, offline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

NODE_W, NODE_H, COL_W, ROW_H, PAD = 150, 40, 230, 70, 20
#: Characters of a name that fit in a node (bold 13 px); longer ones are cut with "…"
#: (the whole name is in the node's tooltip and on its page).
NODE_CHARS = 16


def node_label(name: str) -> str:
    """`name` as it fits in a node: cut with an ellipsis when too long."""
    return name if len(name) <= NODE_CHARS else name[: NODE_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    #: "ok", "anomaly", "stale" or "down": the node's colour.
    state: str
    detail: str


@dataclass(frozen=True, slots=True)
class Edge:
    caller: str
    callee: str
    connections: int


def _depths(names: Sequence[str], edges: Sequence[Edge]) -> dict[str, int]:
    """Column of each node: the longest caller chain above it (cycles cut at len(names))."""
    depth = dict.fromkeys(names, 0)
    for _ in range(len(names)):
        changed = False
        for e in edges:
            if e.caller in depth and e.callee in depth and depth[e.callee] < depth[e.caller] + 1:
                depth[e.callee] = min(depth[e.caller] + 1, len(names))
                changed = True
        if not changed:
            break
    return depth


def service_map(nodes: Sequence[Node], edges: Sequence[Edge]) -> str:
    """Callers on the left, what they call to the right; edges labelled with their
    connection counts; each node links to its service page."""
    if not nodes:
        return '<p class="empty">No services yet: start an agent (coral up does).</p>'
    depth = _depths([n.name for n in nodes], edges)
    columns: dict[int, list[Node]] = {}
    for node in sorted(nodes, key=lambda n: n.name):
        columns.setdefault(depth[node.name], []).append(node)
    at: dict[str, tuple[int, int]] = {}
    for col, members in sorted(columns.items()):
        for row, node in enumerate(members):
            at[node.name] = (PAD + col * COL_W, PAD + row * ROW_H)
    width = PAD * 2 + (max(columns) * COL_W) + NODE_W
    height = PAD * 2 + (max(len(m) for m in columns.values()) - 1) * ROW_H + NODE_H
    parts = [
        f'<svg class="map" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        ' role="img" aria-label="service map">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z"/></marker></defs>',
    ]
    for e in edges:
        if e.caller not in at or e.callee not in at:
            continue
        (x1, y1), (x2, y2) = at[e.caller], at[e.callee]
        sx, sy, tx, ty = x1 + NODE_W, y1 + NODE_H // 2, x2, y2 + NODE_H // 2
        if tx <= sx:  # a back edge: loop under the nodes
            sx, tx = x1 + NODE_W // 2, x2 + NODE_W // 2
            sy, ty = y1 + NODE_H, y2 + NODE_H
            path = f"M{sx},{sy} C{sx},{sy + 50} {tx},{ty + 50} {tx},{ty}"
            lx, ly = (sx + tx) // 2, max(sy, ty) + 36
        else:
            mid = (sx + tx) // 2
            path = f"M{sx},{sy} C{mid},{sy} {mid},{ty} {tx},{ty}"
            lx, ly = mid, (sy + ty) // 2 - 4
        label = escape(f"{e.caller} → {e.callee}: {e.connections} connections")
        parts.append(
            f'<g class="edge" data-edge="{escape(e.caller)}->{escape(e.callee)}">'
            f"<title>{label}</title>"
            f'<path d="{path}" marker-end="url(#arrow)"/>'
            f'<text x="{lx}" y="{ly}">{e.connections}</text></g>'
        )
    for node in nodes:
        x, y = at[node.name]
        name = escape(node.name)
        parts.append(
            f'<a href="/services/{quote(node.name, safe="")}">'
            f'<g class="node {escape(node.state)}" data-service="{name}">'
            f"<title>{name}: {escape(node.detail)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
            f'<text x="{x + NODE_W // 2}" y="{y + NODE_H // 2 + 5}">'
            f"{escape(node_label(node.name))}</text></g></a>"
        )
    parts.append("</svg>")
    return "".join(parts)


def human(value: float, metric: str) -> str:
    if metric.endswith("_bytes") or metric.endswith("_bytes_limit"):
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if abs(value) < 1024 or unit == "TB":
                return f"{value:.4g} {unit}"
            value /= 1024
    return f"{value:.4g}"


@dataclass(frozen=True, slots=True)
class Mark:
    """A point in time on a chart: an anomaly (with its value) or an event."""

    at_s: float
    label: str
    value: float | None = None


def chart(
    metric: str,
    points: Sequence[tuple[float, float]],
    start_s: float,
    end_s: float,
    band: tuple[float, float] | None = None,
    anomalies: Sequence[Mark] = (),
    events: Sequence[Mark] = (),
    width: int = 640,
    height: int = 170,
) -> str:
    """`points` (epoch seconds, value) as a line over [start_s, end_s]; `band` the
    normal range, shaded; anomalies as red markers at their onset; events as ticks."""
    left, right, top, bottom = 64, 10, 10, 22
    values = [v for _, v in points] + [a.value for a in anomalies if a.value is not None]
    if band is not None:
        values += list(band)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    span_s = max(end_s - start_s, 1.0)

    def x(t: float) -> float:
        return left + (t - start_s) / span_s * (width - left - right)

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" data-metric="{escape(metric)}"'
        f' role="img" aria-label="{escape(metric)} chart">',
        f'<text class="axis" x="{left - 6}" y="{top + 8}">{escape(human(hi, metric))}</text>',
        f'<text class="axis" x="{left - 6}" y="{height - bottom}">'
        f"{escape(human(lo, metric))}</text>",
        f'<line class="frame" x1="{left}" y1="{height - bottom}" x2="{width - right}"'
        f' y2="{height - bottom}"/>',
    ]
    if band is not None:
        b_lo, b_hi = max(band[0], lo), min(band[1], hi)
        parts.append(
            f'<rect class="band" x="{left}" y="{y(b_hi):.1f}" width="{width - left - right}"'
            f' height="{max(y(b_lo) - y(b_hi), 2):.1f}"><title>normal: '
            f"{escape(human(band[0], metric))} to {escape(human(band[1], metric))}</title></rect>"
        )
    for ev in events:
        if start_s <= ev.at_s <= end_s:
            parts.append(
                f'<line class="event" x1="{x(ev.at_s):.1f}" y1="{top}" x2="{x(ev.at_s):.1f}"'
                f' y2="{height - bottom}"><title>{escape(ev.label)}</title></line>'
            )
    if points:
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(points)
        )
        parts.append(f'<path class="line" d="{d}"/>')
    for a in anomalies:
        if not start_s <= a.at_s <= end_s:
            continue
        ax = x(a.at_s)
        ay = y(a.value) if a.value is not None else top + 6
        parts.append(
            f'<g class="anomaly"><title>{escape(a.label)}</title>'
            f'<line x1="{ax:.1f}" y1="{top}" x2="{ax:.1f}" y2="{height - bottom}"/>'
            f'<circle cx="{ax:.1f}" cy="{ay:.1f}" r="5"/></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
