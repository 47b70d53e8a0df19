"""One look at the host: which services run, what they use, what happened to them.

`Sensor.observe()` is the agent's sample: it resolves the watched services (given and
auto-discovered), reads their processes, cgroups and sockets, runs due health checks
and scrapes, samples the host, and returns the raw samples, the events since the
previous look and the services' current state. It does no storing and no sending, so
the daemon and `coral agent status` share it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

import psutil

from coral_mcp.agent.collectors.cgroup import CgroupReader, CgroupStat
from coral_mcp.agent.collectors.host import HostSampler
from coral_mcp.agent.collectors.processes import (
    ProcessInfo,
    ProcessSampler,
    ProcessStat,
    list_processes,
    processes_by_pid,
)
from coral_mcp.agent.collectors.procfs import ExitStatus, ProcFS
from coral_mcp.agent.collectors.prometheus import Scraper
from coral_mcp.agent.collectors.sdk import SdkProbe
from coral_mcp.agent.collectors.sockets import SocketScanner, SocketTable
from coral_mcp.agent.collectors.systemd import SystemdUnits
from coral_mcp.agent.health_monitor import HealthMonitor
from coral_mcp.agent.lifecycle import LifecycleTracker
from coral_mcp.agent.naming import ServiceNamer
from coral_mcp.agent.rates import Rates
from coral_mcp.agent.sdk_monitor import SdkMonitor
from coral_mcp.agent.services import ResolvedService, resolve_services
from coral_mcp.config import AgentSettings
from coral_mcp.models import (
    Endpoint,
    Event,
    Peer,
    Sample,
    ServiceBatch,
    ServiceState,
    SpecKind,
)

logger = logging.getLogger(__name__)

Connection = tuple[Endpoint, Endpoint]
VANISHED = "vanished"
#: An auto-discovered service gone this long is forgotten (its name may come back new).
VANISHED_TTL_S = 3600.0


@dataclass(frozen=True, slots=True)
class Observation:
    """What one look at the host found."""

    ts_s: float
    samples: tuple[Sample, ...]
    events: tuple[Event, ...]
    batch: ServiceBatch
    processes: dict[str, tuple[ProcessStat, ...]]
    cgroups: dict[str, CgroupStat]


class Sensor:
    def __init__(
        self,
        settings: AgentSettings,
        *,
        ps: ModuleType = psutil,
        clock: Callable[[], float] = time.time,
        own_pids: frozenset[int] = frozenset(),
    ) -> None:
        self.settings = settings
        self._ps = ps
        self._clock = clock
        self._own_pids = own_pids
        procfs = ProcFS(settings.proc_root)
        self._procfs = procfs
        self._sampler = ProcessSampler(ps)
        self._scanner = SocketScanner(ps)
        self._cgroups = CgroupReader(procfs, settings.cgroup_root)
        self._systemd = SystemdUnits(settings.systemctl)
        self._namer = ServiceNamer(procfs)
        self._lifecycle = LifecycleTracker(self._exit_status, procfs.systemd_unit)
        self.health = HealthMonitor(settings.health_checks)
        self.scraper = Scraper(settings.scrapes)
        self.sdk = SdkMonitor(SdkProbe(settings.proc_root))
        self._host = HostSampler(ps, procfs) if settings.host_metrics else None
        self._rates = Rates()
        self._table = SocketTable()
        self._next_scan_s = 0.0
        self._connections: dict[str, set[Connection]] = {}
        self._cgroup_paths: dict[str, dict[str, str]] = {}
        self._gone_since: dict[str, float] = {}

    def _exit_status(self, pid: int, unit: str | None) -> ExitStatus | None:
        status = self._procfs.zombie_exit_status(pid)
        if status is None and unit:
            status = self._systemd.exit_status(unit)
        return status

    def observe(self) -> Observation:
        now_s = self._clock()
        fresh_scan = now_s >= self._next_scan_s
        if fresh_scan:
            self._table = self._scanner.scan()
            self._next_scan_s = now_s + max(self.settings.socket_scan_s, 0.0) - 0.001
        table = self._table
        processes = self._processes(table)
        self._namer.retain({p.pid for p in processes})
        resolved = resolve_services(
            self.settings.services,
            self.settings.auto_discover,
            table,
            processes,
            self._own_pids,
            self._namer,
        )
        resolved += self._vanished(resolved, now_s)
        stats = self._sampler.sample(pid for r in resolved for pid in r.pids)
        samples: list[Sample] = []
        events: list[Event] = []
        states: list[ServiceState] = []
        by_service: dict[str, tuple[ProcessStat, ...]] = {}
        cgroups: dict[str, CgroupStat] = {}
        for service in resolved:
            mine = {p: stats[p] for p in service.pids if p in stats}
            peers = table.outbound_peers(mine)
            cgroup = self._cgroup(service.name, mine)
            if service.spec == VANISHED:  # only its processes' ends and OOM kills
                events += self._lifecycle.observe(
                    now_s, service.name, mine, (), cgroup.oom_kills if cgroup else None
                )
                continue
            by_service[service.name] = tuple(mine.values())
            if cgroup is not None:
                cgroups[service.name] = cgroup
            samples += self._process_samples(service.name, now_s, list(mine.values()))
            samples += _connection_samples(service.name, now_s, table, list(mine), peers)
            if fresh_scan:
                samples += self._churn(service.name, now_s, table.connection_keys(mine))
            samples += self._cgroup_samples(service.name, now_s, cgroup)
            events += self._lifecycle.observe(
                now_s, service.name, mine, peers, cgroup.oom_kills if cgroup else None
            )
            states.append(
                ServiceState(
                    name=service.name,
                    spec=service.spec,
                    pids=tuple(sorted(mine)),
                    listen=tuple(sorted(table.listen_endpoints(mine))),
                    peers=tuple(Peer(remote, n) for remote, n in sorted(peers.items())),
                )
            )
        sdk_samples, sdk_events = self.sdk.observe(now_s, {s.name: s.pids for s in states})
        samples += sdk_samples
        events += sdk_events
        health_samples, health_events = self.health.run_due(now_s)
        samples += health_samples
        events += health_events
        samples += self.scraper.run_due(now_s)
        if self._host is not None:
            samples += self._host.sample(now_s)
        self._rates.end_round()
        return Observation(
            ts_s=now_s,
            samples=tuple(samples),
            events=tuple(events),
            batch=ServiceBatch(observed_ms=int(now_s * 1000), services=tuple(states)),
            processes=by_service,
            cgroups=cgroups,
        )

    def _processes(self, table: SocketTable) -> list[ProcessInfo]:
        """The processes services may be made of: every one when a service is found by
        name, else only those listening and those given by pid."""
        if any(spec.kind is SpecKind.NAME for spec in self.settings.services):
            return list_processes(self._ps)
        pids = set(table.listen) if self.settings.auto_discover else set()
        pids |= {spec.pid for spec in self.settings.services if spec.kind is SpecKind.PID}
        pids |= {
            pid
            for spec in self.settings.services
            if spec.kind is SpecKind.PORT
            for pid in table.pids_listening_on(spec.port)
        }
        return processes_by_pid(pids, self._ps)

    def _cgroup(self, name: str, pids: Mapping[int, ProcessStat]) -> CgroupStat | None:
        """The service's cgroup, read by its last known path once its processes are gone
        (an OOM kill often takes the only process)."""
        if pids:
            self._cgroup_paths[name] = self._cgroups.paths_of(min(pids))
        paths = self._cgroup_paths.get(name)
        return self._cgroups.read(paths) if paths else None

    def _vanished(self, resolved: list[ResolvedService], now_s: float) -> list[ResolvedService]:
        """Auto-discovered services seen before and gone now, so their ends are seen and a
        restart under the same name is a restart. Forgotten after VANISHED_TTL_S."""
        present = {r.name for r in resolved}
        for name in present:
            self._gone_since.pop(name, None)
        gone: list[ResolvedService] = []
        for name in self._lifecycle.known_services:
            if name in present:
                continue
            since = self._gone_since.setdefault(name, now_s)
            if now_s - since > VANISHED_TTL_S:
                self._lifecycle.forget(name)
                self._gone_since.pop(name)
                self._cgroup_paths.pop(name, None)
                self._connections.pop(name, None)
            else:
                gone.append(ResolvedService(name, VANISHED, ()))
        return gone

    def _process_samples(self, name: str, now_s: float, stats: list[ProcessStat]) -> list[Sample]:
        samples = [Sample(now_s, name, "processes", float(len(stats)))]
        if not stats:
            return samples
        values: dict[str, float] = {
            "rss_bytes": float(sum(s.rss_bytes for s in stats)),
            "vms_bytes": float(sum(s.vms_bytes for s in stats)),
            "threads": float(sum(s.threads for s in stats)),
            "start_time_s": min(s.create_time_s for s in stats),
        }
        cpu = [s.cpu_percent for s in stats if s.cpu_percent is not None]
        if cpu:
            values["cpu_percent"] = float(sum(cpu))
        fds = [s.fds for s in stats if s.fds is not None]
        if fds:
            values["fds"] = float(sum(fds))
        for counter in ("read_bytes", "write_bytes", "ctx_switches"):
            readings = [getattr(s, counter) for s in stats]
            if all(r is not None for r in readings):
                rate = self._rates.rate((name, counter), now_s, float(sum(readings)))
                if rate is not None:
                    values[f"{counter}_per_s"] = rate
        samples += [Sample(now_s, name, metric, value) for metric, value in values.items()]
        return samples

    def _churn(self, name: str, now_s: float, keys: set[Connection]) -> list[Sample]:
        before = self._connections.get(name)
        self._connections[name] = keys
        if before is None:
            return []
        return [
            Sample(now_s, name, "connections_opened", float(len(keys - before))),
            Sample(now_s, name, "connections_closed", float(len(before - keys))),
        ]

    def _cgroup_samples(self, name: str, now_s: float, cgroup: CgroupStat | None) -> list[Sample]:
        if cgroup is None:
            return []
        values = {
            "cgroup_memory_limit_bytes": cgroup.memory_limit_bytes,
            "cgroup_memory_bytes": cgroup.memory_current_bytes,
            "cgroup_cpu_limit_cores": cgroup.cpu_limit_cores,
        }
        samples = [Sample(now_s, name, k, v) for k, v in values.items() if v is not None]
        if cgroup.cpu_throttled_s is not None:
            rate = self._rates.rate((name, "throttled"), now_s, cgroup.cpu_throttled_s)
            if rate is not None:
                samples.append(Sample(now_s, name, "cgroup_cpu_throttled_ratio", rate))
        return samples


def _connection_samples(
    name: str, now_s: float, table: SocketTable, pids: list[int], peers: Mapping[Endpoint, int]
) -> list[Sample]:
    states = table.state_counts(pids)
    return [
        Sample(now_s, name, "connections_out", float(sum(peers.values()))),
        Sample(now_s, name, "connections_in", float(table.inbound_count(pids))),
        Sample(now_s, name, "connections_syn_sent", float(states.get("SYN_SENT", 0))),
        Sample(now_s, name, "connections_close_wait", float(states.get("CLOSE_WAIT", 0))),
    ]
