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
    """The answer first (the most likely cause and its confidence), then each ranked
    hypothesis with its evidence (times and values) and its recommendation."""
    span = f"{result['start']} and {result['end']}"
    if result["outcome"] == "no_significant_anomaly":
        return f"No significant anomaly between {span}.\n{result['summary']}"
    if result["outcome"] == "unknown_service":
        return str(result["summary"])
    lines = [f"Between {span}: {result['summary']}", ""]
    if result["hypotheses"]:
        top = result["hypotheses"][0]
        lines.insert(
            0,
            f"Most likely: {top['service']}, {top['kind'].replace('_', ' ')}"
            f" (confidence {top['confidence']:.2f}).",
        )
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


def _value(metric: str, value: float) -> str:
    return human_bytes(value) if metric.endswith("_bytes") else f"{value:.3g}"


def health(detail: dict[str, Any], investigation: dict[str, Any] | None = None) -> str:
    """Is one service healthy: a verdict first, then why (metrics off their normal,
    anomalies the analysis found in the range, a failing health check, recent events)."""
    name = detail["name"]
    off = [
        m for m in detail["metrics"] if m.get("deviation") is not None and abs(m["deviation"]) >= 3
    ]
    # the investigation's anomalies come only with detail=true: without them, none found
    anomalies = (investigation or {}).get("anomalies") or []
    found = [a for a in anomalies if a["service"] == name]
    checked = detail["health"]["healthy"]
    healthy = detail["status"] == "up" and checked is not False and not off and not found
    lines = [f"{name} is {'healthy' if healthy else 'not healthy'}: {detail['status']}"]
    if checked is not None:
        lines[0] += f", health check {'passing' if checked else 'failing'}"
        if detail["health"]["since"]:
            lines[0] += f" since {detail['health']['since']}"
    if detail.get("version"):
        lines[0] += f", version {detail['version']}"
    lines[0] += "."
    for m in off:
        lines.append(
            f"  {m['metric']} {_value(m['metric'], m['latest'])} vs normal"
            f" {_value(m['metric'], m['baseline'])} ({m['deviation']:+.1f} sigma)"
        )
    for a in found[:5]:
        normal = "" if a["baseline"] is None else f" vs normal {_value(a['metric'], a['baseline'])}"
        lines.append(
            f"  since {a['onset']}: {a['metric']} {a['kind'].replace('_', ' ')},"
            f" {_value(a['metric'], a['value'])}{normal}"
        )
    if investigation and investigation.get("hypotheses"):
        top = investigation["hypotheses"][0]
        lines.append(
            f"Most likely cause nearby: {top['service']}, {top['kind'].replace('_', ' ')}"
            f" (confidence {top['confidence']:.2f}); recommendation: {top['recommendation']}"
        )
    if detail["recent_events"]:
        lines.append("Recent events:")
        lines += [f"  {e['ts']} {e['kind']}: {e['message']}" for e in detail["recent_events"][:5]]
    return "\n".join(lines)


def compared(detail: dict[str, Any]) -> str:
    """Each metric of one service now against its learned normal."""
    rows = [m for m in detail["metrics"] if m.get("baseline") is not None]
    off = [m for m in rows if m["deviation"] is not None and abs(m["deviation"]) >= 3]
    lines = [
        f"{detail['name']}: {len(off)} of {len(rows)} metrics are outside their normal range."
        if rows
        else f"{detail['name']}: no baselines learned yet (they need about an hour of data)."
    ]
    for m in rows:
        mark = "  <- abnormal" if m in off else ""
        lines.append(
            f"  {m['metric']:<20} now {_value(m['metric'], m['latest']):>10}"
            f"  normal {_value(m['metric'], m['baseline']):>10}"
            f"  ({m['deviation']:+.1f} sigma){mark}"
        )
    return "\n".join(lines)


def anomalies(result: dict[str, Any]) -> str:
    rows = result["anomalies"]
    if not rows:
        return (
            f"Everything is within its normal range between {result['start']} and"
            f" {result['end']}: no anomaly detected."
        )
    lines = [
        f"{len(rows)} anomalies between {result['start']} and {result['end']}, earliest first:"
    ]
    for a in rows[:20]:
        normal = "" if a["baseline"] is None else f" (normal {_value(a['metric'], a['baseline'])})"
        lines.append(
            f"  {a['onset']} {a['service']} {a['metric']} {a['kind'].replace('_', ' ')}:"
            f" {_value(a['metric'], a['value'])}{normal}"
        )
    return "\n".join(lines)


def changes_answer(result: dict[str, Any]) -> str:
    rows = result["events"]
    if not rows:
        return f"No deploys, restarts or crashes between {result['start']} and {result['end']}."
    lines = [f"{len(rows)} changes between {result['start']} and {result['end']}, newest first:"]
    lines += [f"  {e['ts']} {e['service']} {e['kind']}: {e['message']}" for e in rows]
    if result.get("truncated"):
        lines.append("  ... more (narrow the range)")
    return "\n".join(lines)


def neighbourhood(service: str, result: dict[str, Any]) -> str:
    edges = result["edges"]
    callers = sorted({e["caller"] for e in edges if e["callee"] == service})
    callees = sorted({e["callee"] for e in edges if e["caller"] == service})
    external = sorted({x["remote"] for x in result.get("external", []) if x["service"] == service})
    lines = [
        f"{', '.join(callers) or 'nothing watched'} depends on {service}.",
        f"{service} depends on {', '.join(callees + external) or 'nothing seen'}.",
    ]
    return "\n".join(lines)
