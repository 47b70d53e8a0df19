"""Offline replay: a case directory imported into a fresh store, then investigated by the
same storage and analysis code as a live colony (see docs/replay.md for the format).
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from coral_mcp.errors import ConfigError
from coral_mcp.intelligence.facade import Intelligence
from coral_mcp.models import (
    Event,
    EventBatch,
    MetricSummary,
    Severity,
    SummaryWindow,
)
from coral_mcp.models.intelligence import InvestigationResult
from coral_mcp.storage import analysis_store as st
from coral_mcp.storage.ops import RegisterAgent, StoreEvents, StoreSummaries, WriteOp
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer

AGENT = "replay"
_CRITICAL = frozenset({"crash", "oom_kill"})


class CaseError(ConfigError):
    """A replay case that cannot be read."""


@dataclass(frozen=True, slots=True)
class Label:
    service: str
    kind: str | None


@dataclass(frozen=True, slots=True)
class Symptom:
    """What the operator was alerted on (case.json "symptom"); both parts optional."""

    service: str | None
    metric: str | None


@dataclass(frozen=True, slots=True)
class Case:
    path: Path
    #: (epoch s, service, metric, value), in file order.
    metrics: tuple[tuple[float, str, str, float], ...]
    events: tuple[Event, ...]
    edges: tuple[tuple[str, str], ...]
    incident_time: datetime | None
    label: Label | None
    symptom: Symptom | None = None


def parse_time(text: str) -> float:
    """Epoch seconds, or RFC 3339 (a trailing Z allowed; no zone means UTC)."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"bad timestamp {text!r} (epoch seconds or RFC 3339, e.g. 2026-01-01T00:00:00Z)"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if not math.isfinite(value):
        raise ValueError(f"not a finite time: {text}")
    return value


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise CaseError(
                    f"{path}:1: header lacks {', '.join(missing)}",
                    hint=f"the first line must name the columns {','.join(columns)}",
                )
            for row in reader:
                if None in row or any(row.get(c) is None for c in columns):
                    raise CaseError(f"{path}:{reader.line_num}: expected {len(columns)} fields")
                yield reader.line_num, row
    except OSError as exc:
        raise CaseError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CaseError(f"{path}: not UTF-8 text") from None


def load_case(path: Path) -> Case:
    metrics_path = path / "metrics.csv"
    if not metrics_path.is_file():
        raise CaseError(f"{metrics_path}: no such file", hint="a case needs metrics.csv")
    metrics = []
    for line, row in _rows(metrics_path, ("timestamp", "service", "metric", "value")):
        try:
            ts, value = parse_time(row["timestamp"]), float(row["value"])
        except ValueError as exc:
            raise CaseError(f"{metrics_path}:{line}: {exc}") from None
        if math.isfinite(value):  # NaN/inf: a missing sample, skipped
            metrics.append((ts, row["service"], row["metric"], value))
    if not metrics:
        raise CaseError(f"{metrics_path}: no samples")
    events = []
    events_path = path / "events.csv"
    if events_path.is_file():
        for line, row in _rows(events_path, ("timestamp", "service", "kind", "detail")):
            try:
                ts = parse_time(row["timestamp"])
            except ValueError as exc:
                raise CaseError(f"{events_path}:{line}: {exc}") from None
            events.append(_event(ts, row["service"], row["kind"], row["detail"]))
    edges = []
    edges_path = path / "edges.csv"
    if edges_path.is_file():
        edges = [(r["caller"], r["callee"]) for _, r in _rows(edges_path, ("caller", "callee"))]
    incident, label, symptom = _case_json(path / "case.json")
    return Case(path, tuple(metrics), tuple(events), tuple(edges), incident, label, symptom)


def _event(ts_s: float, service: str, kind: str, detail: str) -> Event:
    attrs = tuple((k, v) for k, _, v in (t.partition("=") for t in detail.split()) if v and k)
    severity = Severity.CRITICAL if kind in _CRITICAL else Severity.WARNING
    return Event(round(ts_s * 1000), service, kind, severity, detail, attrs)


def _case_json(path: Path) -> tuple[datetime | None, Label | None, Symptom | None]:
    if not path.is_file():
        return None, None, None
    try:
        doc = json.loads(path.read_text())
        incident = doc.get("incident_time")
        when = None if incident is None else datetime.fromtimestamp(parse_time(str(incident)), UTC)
        root = doc.get("root_cause")
        label = None if not root else Label(str(root["service"]), root.get("kind"))
        asked = doc.get("symptom")
        symptom = (
            None if not asked else Symptom(_text(asked.get("service")), _text(asked.get("metric")))
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CaseError(
            f"{path}: {exc}",
            hint='expected {"incident_time": T, "root_cause": {"service": S, "kind": K},'
            ' "symptom": {"service": S, "metric": M}}',
        ) from None
    return when, label, symptom


def _text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def save_case(
    case_dir: Path,
    metrics: Iterable[Sequence[object]],
    events: Iterable[Sequence[object]] = (),
    edges: Iterable[Sequence[str]] = (),
    doc: dict[str, object] | None = None,
) -> Path:
    """Write a case in the replay format (the reverse of `load_case`)."""
    case_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(case_dir / "metrics.csv", ("timestamp", "service", "metric", "value"), metrics)
    _write_csv(case_dir / "events.csv", ("timestamp", "service", "kind", "detail"), events)
    _write_csv(case_dir / "edges.csv", ("caller", "callee"), edges)
    if doc is not None:
        (case_dir / "case.json").write_text(json.dumps(doc, indent=1) + "\n")
    return case_dir


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)


def write_ops(case: Case) -> tuple[list[WriteOp], float, float]:
    """The case as the write ops an agent's stream would produce; and its time span."""
    ts = np.array([m[0] for m in case.metrics])
    uniq = np.unique(ts)
    step = float(np.median(np.diff(uniq))) if uniq.size > 1 else 60.0
    first, last = float(uniq[0]), float(uniq[-1]) + step
    ops: list[WriteOp] = [RegisterAgent(AGENT, "replay", "replay", 1, "", (), round(first * 1000))]
    windows: dict[float, dict[tuple[str, str], MetricSummary]] = {}
    for t, service, metric, v in case.metrics:
        windows.setdefault(t, {})[(service, metric)] = MetricSummary(
            service, metric, v, v, v, v, v, 1
        )
    # A recorded value missing from a window is sent as +inf: replayed data is not an
    # agent's (which leaves out what stayed unchanged), so nothing is to be filled in.
    keys = sorted({(service, metric) for _, service, metric, _ in case.metrics})
    seq = 0
    for t in sorted(windows):
        seq += 1
        start_ms = round(t * 1000)
        have = windows[t]
        rows = tuple(have.get(k) or _missing(*k) for k in keys)
        window = SummaryWindow(start_ms, start_ms + round(step * 1000), rows)
        ops.append(StoreSummaries(AGENT, seq, window))
    if case.events:
        seq += 1
        ops.append(StoreEvents(AGENT, seq, EventBatch(case.events), round(last * 1000)))
    return ops, first, last


def _missing(service: str, metric: str) -> MetricSummary:
    inf = math.inf
    return MetricSummary(service, metric, inf, inf, inf, inf, inf, 0)


async def import_case(case: Case, store: ColonyStore, writer: Writer) -> tuple[float, float]:
    """Write `case` through the colony's writer; return its span (epoch s)."""
    ops, first, last = write_ops(case)
    await asyncio.gather(*(writer.write(op) for op in ops))
    seen = datetime.fromtimestamp(last, UTC)
    await writer.run(lambda: _edges(store, case.edges, seen))
    return first, last


async def replay(case: Case, data_dir: Path) -> InvestigationResult:
    """Import `case` into a fresh store under `data_dir`, then investigate its whole span."""
    store = ColonyStore(data_dir)
    writer = Writer(store)
    writer.start()
    try:
        first, last = await import_case(case, store, writer)
        intel = Intelligence(store, writer, clock=lambda: last)
        symptom = case.symptom or Symptom(None, None)
        return await intel.investigate(
            question=f"replay {case.path.name}",
            start=datetime.fromtimestamp(first, UTC),
            end=datetime.fromtimestamp(last, UTC),
            service=symptom.service,
            incident_time=case.incident_time,
            metric=symptom.metric,
        )
    finally:
        await writer.close()
        store.close()


def _edges(store: ColonyStore, edges: tuple[tuple[str, str], ...], seen: datetime) -> None:
    cur = store.reader()
    try:
        st.upsert_edges(cur, edges, seen)
    finally:
        cur.close()
