"""The dashboard's pages: each reads through the MCP tools (the same documents MCP and
REST serve) and renders HTML. A page is `(title, body)`; `app.py` frames and serves it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from html import escape
from typing import Any

from pydantic import ValidationError

from coral_mcp.dashboard import svg
from coral_mcp.dashboard.html import range_form, service_link, url, when
from coral_mcp.errors import QueryError
from coral_mcp.tools import (
    asks,
    colony,
    intelligence,
    metrics,
    service_detail,
    services,
    topology,
)
from coral_mcp.tools.asks import ASK_PREFIX, AskRecord
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.intelligence_schemas import AnomalyOut, InvestigationOut
from coral_mcp.tools.schemas import EventOut

#: Charts on a service page; beyond these its other metrics are listed in a table.
MAX_CHARTS = 12
#: Normal band: the learned centre ± this many spreads (the detector's robust z).
BAND_SPREADS = 3.0
#: Stored records the overview looks through for the newest investigation (asked
#: conversations are stored beside them).
HEADLINE_LOOKBACK = 20

Page = tuple[str, str]


def _ts(value: datetime) -> float:
    return value.timestamp()


def is_conversation(doc: dict[str, Any]) -> bool:
    """A stored `coral ask` conversation (or the ask box's), not an investigation."""
    return str(doc.get("id", "")).startswith(ASK_PREFIX)


def _first_line(text: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _latest_headline(found: list[dict[str, Any]]) -> str:
    investigations = [doc for doc in found if not is_conversation(doc)]
    if not investigations:
        return (
            '<p class="empty">No investigation yet. <a href="/investigations">Ask what'
            " happened</a>.</p>"
        )
    inv = InvestigationOut.model_validate(investigations[0])
    return (
        f'<p class="headline"><a href="/investigations/{escape(inv.id)}">'
        f"{escape(inv.summary)}</a> <small>{when(inv.created_at)}</small></p>"
    )


async def overview(data: CoralData) -> Page:
    topo, listed, agents, anomalies, recent = await asyncio.gather(
        topology.get_topology(data),
        services.list_services(data, limit=200),
        colony.list_agents(data),
        intelligence.find_anomalies(data, start="1h", limit=500),
        data.recent_investigations(HEADLINE_LOOKBACK),
    )
    anomalous: dict[str, int] = {}
    for a in anomalies.anomalies:
        anomalous[a.service] = anomalous.get(a.service, 0) + 1
    status = {s.name: s.status for s in listed.services}
    nodes = []
    for name in sorted(set(topo.services) | set(status)):
        state = {"up": "ok", "down": "down", "stale": "stale"}.get(status.get(name, "up"), "ok")
        detail = status.get(name, "seen on the wire")
        if anomalous.get(name) and state != "down":
            n = anomalous[name]
            state = "anomaly"
            detail = f"{detail}; {n} anomal{'y' if n == 1 else 'ies'} in the last hour"
        nodes.append(svg.Node(name, state, detail))
    edges = [svg.Edge(e.caller, e.callee, e.connections) for e in topo.edges]
    counts = {"online": 0, "stale": 0, "offline": 0}
    for agent in agents.agents:
        counts[agent.state] += 1
    agent_rows = "".join(
        f'<tr><td>{escape(a.hostname)}</td><td><span class="pill {a.state}">{a.state}</span>'
        f"</td><td>{when(a.last_seen)}</td></tr>"
        for a in agents.agents
    )
    legend = "".join(
        f'<span class="pill {s}">{label}</span>'
        for s, label in (
            ("ok", "healthy"),
            ("anomaly", "anomaly"),
            ("stale", "stale"),
            ("down", "down"),
        )
    )
    body = (
        f"<section><h2>Latest investigation</h2>{_latest_headline(recent)}</section>"
        f'<section><h2>Service map</h2><p class="legend">{legend}</p>'
        f"{svg.service_map(nodes, edges)}</section>"
        f'<section><h2>Agents</h2><p class="counts">'
        f'<span class="pill online">{counts["online"]} online</span> '
        f'<span class="pill stale">{counts["stale"]} stale</span> '
        f'<span class="pill offline">{counts["offline"]} offline</span></p>'
        f"<table><tr><th>host</th><th>state</th><th>last seen</th></tr>{agent_rows}</table>"
        "</section>"
    )
    return "Overview", body


def _event_row(e: EventOut) -> str:
    return (
        f'<tr class="{e.severity}"><td>{when(e.ts)}</td><td>{service_link(e.service)}</td>'
        f"<td>{escape(e.kind)}</td><td>{escape(e.message)}</td></tr>"
    )


def _anomaly_row(a: AnomalyOut) -> str:
    until = f" · ended {when(a.ended_at)}" if a.ended_at else ""
    return (
        f'<tr class="anomaly-row"><td>{when(a.onset)}</td><td>{service_link(a.service)}</td>'
        f"<td>anomaly: {escape(a.kind)}</td><td>{escape(a.metric)}: {escape(a.detail)}"
        f"{until}</td></tr>"
    )


async def service(data: CoralData, name: str, range_: str) -> Page:
    detail = await service_detail.get_service(data, name, detail=True)
    found, base, events = await asyncio.gather(
        intelligence.find_anomalies(data, start=range_, service=name, limit=500),
        intelligence.get_baselines(data, service=name, limit=500),
        colony.get_events(data, start=range_, service=name, limit=200),
    )
    bands = {
        b.metric: (b.center - BAND_SPREADS * b.spread, b.center + BAND_SPREADS * b.spread)
        for b in base.baselines
        if b.hour_of_day == -1
    }
    marks = [  # anomalies are marked on their own metric's chart, not as events
        svg.Mark(_ts(e.ts), f"{e.kind}: {e.message}") for e in events.events if e.kind != "anomaly"
    ]
    names = sorted(m.metric for m in detail.metrics)
    series = await asyncio.gather(
        *(metrics.query_metrics(data, name, m, start=range_) for m in names[:MAX_CHARTS])
    )
    charts = []
    for s in series:
        anomalies = [  # one that began before the chart is marked at its left edge
            svg.Mark(
                max(_ts(a.onset), _ts(s.start)),
                f"{a.kind} from {a.onset:%H:%M:%S}Z: {a.detail}",
                a.value,
            )
            for a in found.anomalies
            if a.metric == s.metric
        ]
        drawn = svg.chart(
            s.metric,
            [(_ts(p.ts), p.avg) for p in s.points],
            _ts(s.start),
            _ts(s.end),
            bands.get(s.metric),
            anomalies,
            marks,
        )
        count = f"{len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'}"
        flag = f' <span class="pill anomaly">{count}</span>' if anomalies else ""
        charts.append(f"<figure><figcaption>{escape(s.metric)}{flag}</figcaption>{drawn}</figure>")
    health = detail.health
    verdict = {True: "healthy", False: "unhealthy", None: "no health check"}[health.healthy]
    deps = ", ".join(service_link(c) for c in detail.calls) or "none seen"
    dependents = ", ".join(service_link(c) for c in detail.called_by) or "none seen"
    rows = "".join(_event_row(e) for e in events.events) or (
        f'<tr><td colspan="4" class="empty">{escape(events.hint or "No events.")}</td></tr>'
    )
    body = (
        f'{range_form(range_)}<p class="facts"><span class="pill {detail.status}">'
        f"{detail.status}</span> {escape(verdict)} · version {escape(detail.version or '—')}"
        f" · pids {escape(', '.join(map(str, detail.pids)) or '—')}"
        f" · last seen {when(detail.last_seen)}</p>"
        f"<p>Depends on: {deps}</p><p>Used by: {dependents}</p>"
        f'<section><h2>Metrics</h2><div class="charts">{"".join(charts)}</div>'
        '<p class="legend"><span class="swatch band"></span> normal (learned baseline ± 3 spreads)'
        ' <span class="swatch anomaly"></span> anomaly onset'
        ' <span class="swatch event"></span> event</p></section>'
        f"<section><h2>Events</h2><table><tr><th>time</th><th>service</th><th>kind</th>"
        f"<th>detail</th></tr>{rows}</table></section>"
    )
    return name, body


async def timeline(data: CoralData, range_: str, only: str | None, kind: str | None) -> Page:
    names = await data.service_names()
    if only and only not in names:
        raise QueryError(f"no service {only!r}", hint="pick one from the list")
    kinds = [kind] if kind and kind != "anomaly" else None
    events, found = await asyncio.gather(
        colony.get_events(data, start=range_, service=only or None, kinds=kinds, limit=500),
        intelligence.find_anomalies(data, start=range_, service=only or None, limit=500),
    )
    rows: list[tuple[float, str]] = []
    if kind != "anomaly" or not kind:
        rows += [(_ts(e.ts), _event_row(e)) for e in events.events]
    if not kind or kind == "anomaly":
        rows += [(_ts(a.onset), _anomaly_row(a)) for a in found.anomalies]
    rows.sort(key=lambda r: r[0], reverse=True)
    choices = "".join(
        f"<option{' selected' if n == only else ''}>{escape(n)}</option>" for n in names
    )
    kind_choices = "".join(
        f"<option{' selected' if k == kind else ''}>{k}</option>"
        for k in ("anomaly", "crash", "restart", "oom_kill", "deploy", "health_flip")
    )
    filters = (
        f'<form class="filters" method="get"><input type="hidden" name="range"'
        f' value="{escape(range_)}"><label>Service <select name="service"'
        f' onchange="this.form.submit()"><option value="">all</option>{choices}</select></label>'
        f' <label>Kind <select name="kind" onchange="this.form.submit()"><option value="">all'
        f"</option>{kind_choices}</select></label></form>"
    )
    table = (
        "".join(r for _, r in rows)
        or '<tr><td colspan="4" class="empty">Nothing in this range.</td></tr>'
    )
    body = (
        f"{range_form(range_, service=only, kind=kind)}{filters}"
        f"<table><tr><th>time</th><th>service</th><th>what</th><th>detail</th></tr>{table}</table>"
    )
    return "Timeline", body


def _hypotheses(inv: InvestigationOut) -> str:
    items = []
    for h in inv.hypotheses:
        evidence = "".join(
            f"<li>{when(e.ts)} {escape(e.service)} {escape(e.source)}: {escape(e.description)}</li>"
            for e in h.evidence
        )
        counter = "".join(
            f"<li>{when(e.ts)} {escape(e.service)} {escape(e.source)}: {escape(e.description)}</li>"
            for e in h.counter_evidence
        )
        items.append(
            f'<section class="hypothesis"><h3>{h.rank}. {service_link(h.service)} — '
            f"{escape(str(h.kind))} <small>confidence {h.confidence:.0%}</small></h3>"
            f"<p>onset {when(h.onset)}</p><h4>Evidence</h4><ul>{evidence or '<li>none</li>'}</ul>"
            f"<h4>Counter-evidence</h4><ul>{counter or '<li>none</li>'}</ul>"
            f'<p class="recommendation">Recommendation: {escape(h.recommendation)}</p></section>'
        )
    return "".join(items)


def ask_box() -> str:
    return (
        '<section class="ask"><h2>Ask</h2><form id="ask" method="post" action="/ask">'
        '<input name="question" placeholder="what happened?" size="50" aria-label="question"'
        ' required> <input name="range" value="1h" size="6" aria-label="range"'
        ' title="how far back: 15m, 1h, now-6h"> <button>Ask</button></form>'
        '<p id="ask-status" class="status" aria-live="polite"></p>'
        '<pre id="answer" aria-live="polite"></pre></section>'
    )


def _listed(doc: dict[str, Any]) -> str:
    """A row of the investigations list: an investigation, or an asked conversation."""
    if is_conversation(doc):
        try:
            rec = AskRecord.model_validate(doc)
        except ValidationError:  # stored by another version: shown as far as it goes
            question = escape(str(doc.get("question", "(no question)")))
            return f'<tr class="conversation"><td>—</td><td>{question}</td><td></td></tr>'
        return (
            f'<tr class="conversation"><td>{when(rec.started_at or None)}</td><td>'
            f'<a href="/investigations/{escape(rec.id)}">{escape(rec.question)}</a></td>'
            f'<td><span class="pill ask">asked · {escape(rec.provider)}</span> '
            f"{escape(_first_line(rec.answer))}</td></tr>"
        )
    inv = InvestigationOut.model_validate(doc)
    return (
        f'<tr><td>{when(inv.created_at)}</td><td><a href="/investigations/{escape(inv.id)}">'
        f"{escape(inv.question or '(no question)')}</a></td><td>{escape(inv.summary)}</td></tr>"
    )


async def investigations(data: CoralData) -> Page:
    found, correlations = await asyncio.gather(
        data.recent_investigations(50), intelligence.get_correlations(data, limit=20)
    )
    rows = (
        "".join(_listed(doc) for doc in found)
        or '<tr><td colspan="3" class="empty">None yet: ask above.</td></tr>'
    )
    groups = (
        "".join(
            f"<tr><td>{when(c.window_start)}</td><td>"
            f"{', '.join(service_link(s) for s in c.services)}</td>"
            f"<td>{escape(c.top_hypothesis)}</td></tr>"
            for c in correlations.correlations
        )
        or '<tr><td colspan="3" class="empty">No correlated anomalies.</td></tr>'
    )
    body = (
        f"{ask_box()}<section><h2>Investigations</h2><table><tr><th>when</th><th>question</th>"
        f"<th>answer</th></tr>{rows}</table></section><section><h2>Correlated anomalies</h2>"
        f"<table><tr><th>from</th><th>services</th><th>top hypothesis</th></tr>{groups}"
        "</table></section>"
    )
    return "Investigations", body


async def conversation(data: CoralData, ask_id: str) -> Page:
    """A question asked (with `coral ask` or the ask box): its answer and how it came."""
    rec = await asks.recorded_ask(data, ask_id)
    model = f" ({escape(rec.model)})" if rec.model else ""
    fallback = (
        f'<p class="note">The model gave no answer ({escape(rec.fallback)}); the builtin'
        " report answered.</p>"
        if rec.fallback
        else ""
    )
    leads = "".join(
        f"<li>{escape(str(h.get('service')))}: {escape(str(h.get('kind')))}"
        f" (confidence {float(h.get('confidence') or 0):.0%})</li>"
        for h in rec.hypotheses
    )
    steps = "".join(
        f"<tr><td>{escape(st.tool)}</td><td>{escape(json.dumps(st.arguments))[:300]}</td>"
        f"<td>{'error' if st.is_error else 'ok'}</td><td>{st.elapsed_ms:.0f} ms</td></tr>"
        for st in rec.steps
    )
    linked = (
        f'<p><a href="/investigations/{escape(rec.investigation_id)}">The investigation it'
        " started from</a></p>"
        if rec.investigation_id
        else ""
    )
    body = (
        f'<p class="facts">asked {when(rec.started_at or None)} · answered by'
        f" {escape(rec.provider)}{model} in {rec.duration_ms / 1000:.1f} s</p>"
        f'<p class="question">{escape(rec.question)}</p>{fallback}'
        f'<pre class="answer">{escape(rec.answer)}</pre>{linked}'
        f"<section><h2>Leads</h2><ul>{leads or '<li>none</li>'}</ul></section>"
        f"<section><h2>Tools called</h2><table><tr><th>tool</th><th>arguments</th>"
        f"<th>result</th><th>took</th></tr>{steps}</table></section>"
        f'<p><a href="{url("/investigations")}">All investigations</a></p>'
    )
    return f"Conversation {rec.id}", body


async def investigation(data: CoralData, investigation_id: str) -> Page:
    if investigation_id.startswith(ASK_PREFIX):
        return await conversation(data, investigation_id)
    inv = await intelligence.recorded_investigation(data, investigation_id)
    anomalies = "".join(_anomaly_row(a) for a in inv.anomalies or [])
    body = (
        f'<p class="facts">{escape(inv.question or "(no question)")} · {when(inv.start)} to'
        f" {when(inv.end)}{' · ' + service_link(inv.service) if inv.service else ''}</p>"
        f'<p class="headline">{escape(inv.summary)}</p>{_hypotheses(inv)}'
        f"<section><h2>Anomalies used</h2><table><tr><th>onset</th><th>service</th>"
        f"<th>what</th><th>detail</th></tr>{anomalies}</table></section>"
        f'<p><a href="{url("/investigations")}">All investigations</a></p>'
    )
    return f"Investigation {inv.id}", body
