"""Which processes make up each watched service right now."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from coral_mcp.agent.collectors.processes import ProcessInfo, service_name_for
from coral_mcp.agent.collectors.sockets import SocketTable
from coral_mcp.models import ServiceSpec, SpecKind

AUTO_SPEC = "auto"


@dataclass(frozen=True, slots=True)
class ResolvedService:
    """A service and the pids that make it up now (empty when none is running)."""

    name: str
    spec: str
    pids: tuple[int, ...]


def resolve_services(
    specs: Sequence[ServiceSpec],
    auto_discover: bool,
    table: SocketTable,
    processes: Sequence[ProcessInfo],
    exclude_pids: frozenset[int] = frozenset(),
    group: Callable[[Mapping[int, ProcessInfo], Mapping[int, set[int]]], dict[str, set[int]]]
    | None = None,
) -> list[ResolvedService]:
    """Match specs (and, with auto_discover, every listening process) to pids.

    `exclude_pids` (the agent itself) never match a name pattern: its own command line
    names the patterns it looks for. Auto-discovery still sees the agent's process
    when it listens (as in `coral up`). A given service whose processes are gone stays in the list
    with no pids, so the colony sees it is down. Zombies (exited, not yet reaped) belong
    to no service. `group` makes services of the listening processes (name -> pids;
    `ServiceNamer.group`); by default, one per program name.
    """
    running = {p.pid: p for p in processes if not p.zombie}
    resolved: list[ResolvedService] = []
    claimed: set[int] = set()
    for spec in specs:
        pids = _match(spec, table, running) - exclude_pids
        claimed |= pids
        resolved.append(ResolvedService(spec.name, str(spec), tuple(sorted(pids))))
    if auto_discover:
        taken = {r.name for r in resolved}
        listening = {
            pid: running[pid] for pid in table.listen if pid not in claimed and pid in running
        }
        ports = {pid: {e.port for e in table.listen[pid]} for pid in listening}
        by_name = (group or _by_program)(listening, ports)
        for name in sorted(by_name):
            if name not in taken:
                resolved.append(ResolvedService(name, AUTO_SPEC, tuple(sorted(by_name[name]))))
    return resolved


def _match(spec: ServiceSpec, table: SocketTable, running: dict[int, ProcessInfo]) -> set[int]:
    if spec.kind is SpecKind.PID:
        return {spec.pid} if spec.pid in running else set()
    if spec.kind is SpecKind.PORT:
        return {pid for pid in table.pids_listening_on(spec.port) if pid in running}
    pattern = spec.pattern
    return {
        pid
        for pid, proc in running.items()
        if pattern.search(proc.name) or pattern.search(" ".join(proc.cmdline))
    }


def _by_program(
    processes: Mapping[int, ProcessInfo], ports: Mapping[int, set[int]]
) -> dict[str, set[int]]:
    by_name: dict[str, set[int]] = {}
    for pid, process in processes.items():
        by_name.setdefault(service_name_for(process), set()).add(pid)
    return by_name
