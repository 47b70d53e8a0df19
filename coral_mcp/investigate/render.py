"""Plain-text rendering of tool results for a person at a terminal."""

from __future__ import annotations

from typing import Any

_UNITS = ("B", "KB", "MB", "GB", "TB")


def human_bytes(value: float) -> str:
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _metrics(metrics: dict[str, float]) -> str:
    shown = []
    if "cpu_percent" in metrics:
        shown.append(f"cpu {metrics['cpu_percent']:.1f}%")
    if "rss_bytes" in metrics:
        shown.append(f"rss {human_bytes(metrics['rss_bytes'])}")
    if "connections_out" in metrics:
        shown.append(f"out-conns {metrics['connections_out']:.0f}")
    return ", ".join(shown)


def services(result: dict[str, Any]) -> str:
    rows = result.get("services", [])
    if not rows:
        return f"No services known yet. {result.get('hint') or ''}".strip()
    up = sum(1 for s in rows if s["status"] == "up")
    width = max(len(s["name"]) for s in rows)
    lines = [f"{len(rows)} services ({up} up):"]
    for s in rows:
        listen = ", ".join(s["listen"][:3]) + (" ..." if len(s["listen"]) > 3 else "")
        detail = [f"pids {','.join(map(str, s['pids'][:4]))}" if s["pids"] else "no process"]
        if listen:
            detail.append(f"listens {listen}")
        if metrics := _metrics(s.get("metrics", {})):
            detail.append(metrics)
        lines.append(f"  {s['name']:<{width}}  {s['status']:<5}  " + "; ".join(detail))
    if result.get("truncated"):
        lines.append(f"  ... more services (total {result.get('total')})")
    return "\n".join(lines)


def topology(result: dict[str, Any]) -> str:
    names = result.get("services", [])
    edges = result.get("edges", [])
    external = result.get("external", [])
    lines = [f"Topology: {len(names)} services, {len(edges)} dependencies."]
    for e in edges:
        lines.append(
            f"  {e['caller']} -> {e['callee']}  ({e['connections']} connections,"
            f" last seen {e['last_seen']})"
        )
    linked = {e["caller"] for e in edges} | {e["callee"] for e in edges}
    alone = [n for n in names if n not in linked]
    if alone:
        lines.append("  no dependencies seen: " + ", ".join(alone))
    if external:
        lines.append("External connections (not a watched service):")
        for x in external:
            lines.append(f"  {x['service']} -> {x['remote']}  ({x['connections']} connections)")
    if result.get("hint"):
        lines.append(result["hint"])
    return "\n".join(lines)


def _evidence(items: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e['ts'][11:16]}Z {e['description']}" for e in items)


def changes(result: dict[str, Any]) -> str:
    """Deploys, restarts, crashes and OOM kills of the range, newest first."""
    lines = ["What changed (newest first):"]
    for e in result["events"]:
        lines.append(f"  {e['ts'][11:19]}Z {e['service']} {e['kind']}: {e['message']}")
    if result.get("truncated"):
        lines.append("  (more: get_events with a cursor)")
    return "\n".join(lines)


def investigation(result: dict[str, Any]) -> str:
    span = f"{result['start']} to {result['end']}"
    if result["outcome"] == "no_significant_anomaly":
        return f"No significant anomaly between {span}.\n{result['summary']}"
    if result["outcome"] == "unknown_service":
        return str(result["summary"])
    lines = [f"Between {span}: {result['summary']}", ""]
    for h in result["hypotheses"][:5]:
        lines.append(
            f"{h['rank']}. {h['service']}: {h['kind'].replace('_', ' ')}"
            f" (confidence {h['confidence']:.2f})"
        )
        if h["evidence"]:
            lines.append(f"   evidence: {_evidence(h['evidence'])}")
        if h["counter_evidence"]:
            lines.append(f"   against: {_evidence(h['counter_evidence'])}")
        lines.append(f"   recommendation: {h['recommendation']} (not done: Coral only observes)")
    lines.append(f"\n(investigation {result['id']}, {result['duration_ms']:.0f} ms)")
    return "\n".join(lines)
