"""What `coral agent status` and `coral agent inspect` print: documents built from one
observation (JSON-ready), and their plain-text rendering."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from coral_mcp.agent.collectors.cgroup import CgroupStat
from coral_mcp.agent.sensing import Observation, Sensor, cgroup_is_own
from coral_mcp.models import Sample

_BYTES_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _series(samples: tuple[Sample, ...], service: str) -> dict[str, float]:
    return {s.metric: round(s.value, 3) for s in samples if s.service == service}


def status_document(observation: Observation, sensor: Sensor) -> dict[str, Any]:
    services = []
    for state in observation.batch.services:
        series = _series(observation.samples, state.name)
        services.append(
            {
                "name": state.name,
                "spec": state.spec,
                "pids": list(state.pids),
                "up": bool(state.pids),
                "cpu_percent": series.get("cpu_percent"),
                "rss_bytes": series.get("rss_bytes"),
                "threads": series.get("threads"),
                "fds": series.get("fds"),
                "listen": [str(e) for e in state.listen],
                "connections_in": series.get("connections_in"),
                "connections_out": series.get("connections_out"),
                "health": [
                    {"check": spec.name, "healthy": r.healthy, "detail": r.detail}
                    for spec, r in _health_results(sensor, state.name)
                ],
                "probed": _probed(sensor, state.name),
            }
        )
    return {
        "observed_ms": observation.batch.observed_ms,
        "services": services,
        "host": _series(observation.samples, "host"),
    }


def inspect_document(name: str, observation: Observation, sensor: Sensor) -> dict[str, Any]:
    state = next(s for s in observation.batch.services if s.name == name)
    cgroup = observation.cgroups.get(name)
    return {
        "name": name,
        "spec": state.spec,
        "observed_ms": observation.batch.observed_ms,
        "processes": [
            {
                "pid": p.pid,
                "ppid": p.ppid,
                "name": p.name,
                "exe": p.exe,
                "cmdline": " ".join(p.cmdline),
                "uptime_s": round(observation.ts_s - p.create_time_s, 1),
                "cpu_percent": p.cpu_percent,
                "rss_bytes": p.rss_bytes,
                "vms_bytes": p.vms_bytes,
                "threads": p.threads,
                "fds": p.fds,
                "read_bytes": p.read_bytes,
                "write_bytes": p.write_bytes,
                "ctx_switches": p.ctx_switches,
            }
            for p in observation.processes[name]
        ],
        "listen": [str(e) for e in state.listen],
        "peers": [{"remote": str(p.remote), "connections": p.connections} for p in state.peers],
        "cgroup": _cgroup(cgroup, state.pids),
        "health": [
            {"check": spec.name, **asdict(result)} for spec, result in _health_results(sensor, name)
        ],
        "probed": _probed(sensor, name),
        "series": _series(observation.samples, name),
        "prometheus_dropped": sensor.scraper.last_dropped.get(name)
        or sensor.sdk.scraper.last_dropped.get(name)
        or (sensor.prober.scraper.last_dropped.get(name, []) if sensor.prober else []),
    }


def _cgroup(cgroup: CgroupStat | None, pids: tuple[int, ...]) -> dict[str, Any] | None:
    """The cgroup's figures, labelled as the cgroup's (and as shared when it holds other
    processes too: its memory is then not the service's)."""
    if cgroup is None:
        return None
    doc = asdict(cgroup)
    doc["pids"] = len(cgroup.pids)
    doc["shared_with_other_processes"] = not cgroup_is_own(cgroup, pids)
    return doc


def _health_results(sensor: Sensor, service: str) -> list[tuple[Any, Any]]:
    found = list(sensor.health.results_for(service))
    found += sensor.sdk.health.results_for(service)
    if sensor.prober is not None:
        found += sensor.prober.health.results_for(service)
    return found


def _probed(sensor: Sensor, service: str) -> list[dict[str, Any]]:
    """What auto-probing found on the service's ports (empty when it is off)."""
    if sensor.prober is None:
        return []
    return [
        {
            "port": f.port,
            "speaks": f.kind,
            "health": f.health,
            "metrics": f.metrics,
            "version": f.version,
            "summary": f.describe(),
        }
        for f in sensor.prober.findings(service)
    ]


def status_text(doc: dict[str, Any]) -> str:
    lines = [f"{'SERVICE':24} {'PIDS':>5} {'CPU%':>6} {'RSS':>10} {'IN':>4} {'OUT':>4}  HEALTH"]
    for s in doc["services"]:
        health = ", ".join("ok" if h["healthy"] else h["detail"] for h in s["health"]) or "-"
        lines.append(
            f"{s['name'][:24]:24} {len(s['pids']):>5} {_num(s['cpu_percent']):>6} "
            f"{_bytes(s['rss_bytes']):>10} {_num(s['connections_in']):>4} "
            f"{_num(s['connections_out']):>4}  {health if s['up'] else 'DOWN'}"
        )
        lines += [f"{'':24} probed {p['summary']}" for p in s.get("probed", ())]
    if not doc["services"]:
        lines.append("(no services: give --service NAME=SPEC, or start one that listens)")
    host = doc["host"]
    if host:
        lines.append(
            f"host: cpu {_num(host.get('cpu_percent'))}%, load {_num(host.get('load1'))}, "
            f"memory {_num(host.get('memory_used_percent'))}%, "
            f"disk {_num(host.get('disk_used_percent'))}%"
        )
    return "\n".join(lines)


def inspect_text(doc: dict[str, Any]) -> str:
    lines = [f"service {doc['name']} ({doc['spec']})"]
    for p in doc["processes"]:
        lines.append(
            f"  pid {p['pid']} (parent {p['ppid']}) {p['name']}: up {p['uptime_s']} s, "
            f"cpu {_num(p['cpu_percent'])}%, rss {_bytes(p['rss_bytes'])}, "
            f"threads {p['threads']}, fds {_num(p['fds'])}"
        )
        lines.append(f"    {p['cmdline'][:120]}")
    lines.append(f"  listen: {', '.join(doc['listen']) or '-'}")
    peers = ", ".join(f"{p['remote']} x{p['connections']}" for p in doc["peers"])
    lines.append(f"  peers: {peers or '-'}")
    group = doc["cgroup"]
    if group:
        shared = (
            f", shared with {group['pids']} processes"
            if group["shared_with_other_processes"]
            else ""
        )
        lines.append(
            f"  cgroup {group['path']}{shared}: memory {_bytes(group['memory_current_bytes'])}"
            f" of {_bytes(group['memory_limit_bytes'])} (the cgroup's, not the process's)"
        )
    lines += [f"  probed {p['summary']}" for p in doc.get("probed", ())]
    for h in doc["health"]:
        lines.append(
            f"  health {h['check']}: {'ok' if h['healthy'] else 'FAILING'} ({h['detail']})"
        )
    lines.append("  series:")
    lines += [f"    {metric} = {value}" for metric, value in sorted(doc["series"].items())]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _bytes(value: float | None) -> str:
    if value is None:
        return "-"
    amount = float(value)
    for unit in _BYTES_UNITS:
        if amount < 1024 or unit == _BYTES_UNITS[-1]:
            return f"{amount:.1f} {unit}" if unit != "B" else f"{amount:.0f} B"
        amount /= 1024
    return str(value)
