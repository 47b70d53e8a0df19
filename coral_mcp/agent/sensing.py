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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import ModuleType

import psutil

from coral_mcp.agent.auto_probe import AutoProber
from coral_mcp.agent.collectors.cgroup import CgroupReader, CgroupStat
from coral_mcp.agent.collectors.descendants import DescendantCpu
from coral_mcp.agent.collectors.host import HostSampler
from coral_mcp.agent.collectors.processes import (
    ProcessInfo,
    ProcessSampler,
    ProcessStat,
    list_processes,
    processes_by_pid,
)
from coral_mcp.agent.collectors.procfs import ExitStatus, ProcFS
from coral_mcp.agent.collectors.procstat import SchedStat, summed
from coral_mcp.agent.collectors.prometheus import Scraper
from coral_mcp.agent.collectors.sdk import SdkProbe
from coral_mcp.agent.collectors.sockets import SocketScanner, SocketTable
from coral_mcp.agent.collectors.systemd import SystemdUnits
from coral_mcp.agent.health_monitor import HealthMonitor
from coral_mcp.agent.lifecycle import LifecycleTracker
from coral_mcp.agent.naming import ServiceNamer
from coral_mcp.agent.rates import Rates
from coral_mcp.agent.sdk_monitor import SdkMonitor
from coral_mcp.agent.services import AUTO_SPEC, ResolvedService, resolve_services
from coral_mcp.agent.transport import TransportTracker
from coral_mcp.config import AgentSettings
from coral_mcp.models import (
    Endpoint,
    Event,
    EventKind,
    Peer,
    Sample,
    ServiceBatch,
    ServiceState,
    SpecKind,
)
from coral_mcp.models.metrics import CPU_WAIT

logger = logging.getLogger(__name__)

Connection = tuple[Endpoint, Endpoint]
VANISHED = "vanished"
#: An auto-discovered service gone this long is forgotten (its name may come back new).
VANISHED_TTL_S = 3600.0
#: A version change seen by a probe this soon after a deploy event is the same deploy.
DEPLOY_DEDUP_S = 180.0
#: Process names and command lines are read again every this many observations.
INFO_REFRESH = 30
#: Adaptive sampling: a service steady for QUIET_AFTER looks is looked at once in
#: REST_EVERY observations (once a minute at the default 10 s interval) until something
#: about it changes. Between looks, two cheap signs end its rest at once: its sockets
#: (how many, in which TCP states: from the socket dump already made) differ from its
#: last look, or its processes used more CPU since then than a steady one does.
QUIET_AFTER = 3
REST_EVERY = 6
#: A series of these above zero means the service is busy (not steady).
_BUSY_PREFIXES = (
    "tcp_wait_ms",
    "tcp_retrans_per_s",
    "tcp_resets_per_s",
    "tcp_connect_failures_per_s",
    "connections_opened",
    "connections_closed",
    "connections_syn_sent",
)
#: A process using more CPU than this (percent of a core) is not steady.
_STEADY_CPU_PERCENT = 1.0


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
        self._sampler = ProcessSampler(ps, procfs.version_environ)
        self._descendants = DescendantCpu(str(settings.proc_root))
        self._next_tree_s = 0.0
        self._scanner = SocketScanner(ps, walk_every_s=settings.socket_scan_s, clock=clock)
        self._cgroups = CgroupReader(procfs, settings.cgroup_root)
        self._systemd = SystemdUnits(settings.systemctl)
        configured = {c.service for c in settings.health_checks} | {
            s.service for s in settings.scrapes
        }
        self.sdk = SdkMonitor(SdkProbe(settings.proc_root), settings.interval_s, configured)
        self._namer = ServiceNamer(procfs, self.sdk.probe.service_name)
        self._lifecycle = LifecycleTracker(self._exit_status, procfs.systemd_unit)
        self.health = HealthMonitor(settings.health_checks)
        self.scraper = Scraper(settings.scrapes)
        self.prober = (
            AutoProber(settings.interval_s, skip={*settings.auto_probe_skip, *configured})
            if settings.auto_probe
            else None
        )
        self._deployed_at: dict[str, float] = {}
        self._host = HostSampler(ps, procfs) if settings.host_metrics else None
        self._rates = Rates()
        self._table = SocketTable()
        self._next_scan_s = 0.0
        self._connections: dict[str, set[Connection]] = {}
        self._cgroup_paths: dict[str, dict[str, str]] = {}
        self._gone_since: dict[str, float] = {}
        self._watched_pids: set[int] = set()
        self._paths_by_pid: dict[int, dict[str, str]] = {}
        self._infos: dict[int, ProcessInfo] = {}
        self._quiet: dict[str, int] = {}
        #: service -> the TCP states of its connections at its last look
        self._looked: dict[str, tuple[str, ...]] = {}
        self._resting: dict[str, tuple[ServiceState, tuple[ProcessStat, ...]]] = {}
        self._observations = 0
        self._transport = TransportTracker()

    def _exit_status(self, pid: int, unit: str | None) -> ExitStatus | None:
        status = self._procfs.zombie_exit_status(pid)
        if status is None and unit:
            status = self._systemd.exit_status(unit)
        return status

    def observe(self) -> Observation:
        now_s = self._clock()
        fresh_scan = self._scanner.cheap or now_s >= self._next_scan_s
        if fresh_scan:
            self._table = self._scanner.scan(self._watched_pids)
            self._next_scan_s = now_s + max(self.settings.socket_scan_s, 0.0) - 0.001
        table = self._table
        resolved = self._resolve(table, now_s)
        cgroup_reads: dict[tuple[tuple[str, str], ...], CgroupStat | None] = {}
        resting = {r.name: self._resting[r.name] for r in resolved if self._rests(r, table)}
        stats = self._sampler.sample(
            (pid for r in resolved if r.name not in resting for pid in r.pids),
            keep=(pid for r in resolved if r.name in resting for pid in r.pids),
        )
        samples: list[Sample] = []
        events: list[Event] = []
        states: list[ServiceState] = []
        by_service: dict[str, tuple[ProcessStat, ...]] = {}
        cgroups: dict[str, CgroupStat] = {}
        for service in resolved:
            if service.name in resting:  # steady: what it was at its last look
                state, processes = resting[service.name]
                states.append(state)
                by_service[service.name] = processes
                self._rates.keep(service.name)
                continue
            mine = {p: stats[p] for p in service.pids if p in stats}
            cgroup = self._cgroup(service.name, mine, cgroup_reads)
            oom_kills = cgroup.oom_kills if cgroup else None
            if service.spec == VANISHED:  # its processes' ends and OOM kills; shown down
                events += self._lifecycle.observe(now_s, service.name, mine, (), oom_kills)
                self._transport.forget(service.name)
                states.append(ServiceState(name=service.name, spec=AUTO_SPEC, pids=(), listen=()))
                continue
            by_service[service.name] = tuple(mine.values())
            if cgroup is not None:
                cgroups[service.name] = cgroup
            peers = table.outbound_peers(mine)
            own = self._service_samples(service.name, now_s, table, mine, peers, cgroup, fresh_scan)
            happened = self._lifecycle.observe(now_s, service.name, mine, peers, oom_kills)
            state = ServiceState(
                name=service.name,
                spec=service.spec,
                pids=tuple(sorted(mine)),
                listen=tuple(sorted(table.listen_endpoints(mine))),
                peers=tuple(Peer(remote, n) for remote, n in sorted(peers.items())),
            )
            samples += own
            events += happened
            states.append(state)
            self._note_steadiness(service.name, state, tuple(mine.values()), own, happened)
        # The SDK's deploys count as the lifecycle's: a probe seeing the same version
        # change is not reported twice.
        sdk_samples, sdk_events = self.sdk.observe(now_s, {s.name: s.pids for s in states})
        samples += sdk_samples
        events += sdk_events
        check_samples, check_events = self._checks(now_s, states)
        samples += check_samples
        events += self._one_deploy(now_s, events, check_events)
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

    def _service_samples(
        self,
        name: str,
        now_s: float,
        table: SocketTable,
        mine: dict[int, ProcessStat],
        peers: Mapping[Endpoint, int],
        cgroup: CgroupStat | None,
        fresh_scan: bool,
    ) -> list[Sample]:
        samples = self._process_samples(name, now_s, list(mine.values()))
        samples += _connection_samples(name, now_s, table, list(mine), peers)
        if fresh_scan:
            samples += self._churn(name, now_s, table.connection_keys(mine))
            listening = {e.port for e in table.listen_endpoints(mine)}
            samples += self._transport.samples(name, now_s, table, mine, listening)
        samples += self._cgroup_samples(name, now_s, cgroup, mine)
        return samples

    def _rests(self, service: ResolvedService, table: SocketTable) -> bool:
        """Whether a steady service skips this observation (adaptive sampling): quiet
        for QUIET_AFTER looks, the same processes, not its turn (one look in
        REST_EVERY), its connections in the same TCP states as at its last look and its
        CPU idle since then. A new or gone process, an event, a busy or changing
        service, or a transport signal above zero ends the rest at once."""
        if not self.settings.adaptive or service.spec == VANISHED:
            return False
        quiet = self._quiet.get(service.name, 0)
        known = self._resting.get(service.name)
        rests = (
            quiet >= QUIET_AFTER
            and known is not None
            and known[0].pids == service.pids
            and (self._observations + hash(service.name)) % REST_EVERY != 0
            and self._looked.get(service.name) == table.activity(service.pids)
            and self._sampler.idle(service.pids, _STEADY_CPU_PERCENT)
            and self._descendants.idle(service.name, _STEADY_CPU_PERCENT)
        )
        if not rests:
            self._looked[service.name] = table.activity(service.pids)
        return rests

    def _note_steadiness(
        self,
        name: str,
        state: ServiceState,
        processes: tuple[ProcessStat, ...],
        samples: list[Sample],
        events: list[Event],
    ) -> None:
        previous = self._resting.get(name)
        self._resting[name] = (state, processes)
        steady = (
            not events
            and previous is not None
            and previous[0] == state
            and all(_steady_process(p, previous[1]) for p in processes)
            and not any(s.metric.startswith(_BUSY_PREFIXES) and s.value > 0 for s in samples)
        )
        self._quiet[name] = self._quiet.get(name, 0) + 1 if steady else 0

    def _resolve(self, table: SocketTable, now_s: float) -> list[ResolvedService]:
        """The watched services now, and those gone but remembered."""
        processes = self._processes(table)
        self._namer.retain({p.pid for p in processes})
        resolved = resolve_services(
            self.settings.services,
            self.settings.auto_discover,
            table,
            processes,
            self._own_pids,
            self._namer.group,
        )
        resolved += self._vanished(resolved, now_s)
        self._watched_pids = {pid for r in resolved for pid in r.pids}
        for pid in [p for p in self._paths_by_pid if p not in self._watched_pids]:
            del self._paths_by_pid[pid]
        if now_s >= self._next_tree_s:  # the processes they started, as often as sockets
            self._descendants.find({r.name: r.pids for r in resolved if r.pids}, self._own_pids)
            self._next_tree_s = now_s + max(self.settings.socket_scan_s, 0.0) - 0.001
        return resolved

    def _checks(self, now_s: float, states: list[ServiceState]) -> tuple[list[Sample], list[Event]]:
        """Configured health checks and scrapes, then what auto-probing found."""
        samples, events = self.health.run_due(now_s)
        samples += self.scraper.run_due(now_s)
        if self.prober is not None:
            following = self.sdk.following  # their SDKs said where their endpoints are
            self.prober.update(
                now_s, ((s.name, s.pids, s.listen) for s in states if s.name not in following)
            )
            probe_samples, probe_events = self.prober.run_due(now_s)
            samples += probe_samples
            events += probe_events
        return samples, events

    def _one_deploy(self, now_s: float, lifecycle: list[Event], probes: list[Event]) -> list[Event]:
        """The probes' events, less a version change the lifecycle already reported as a
        deploy (a restart with a new version is one deploy, not two)."""
        for event in lifecycle:
            if event.kind == EventKind.DEPLOY:
                self._deployed_at[event.service] = now_s
        return [
            e
            for e in probes
            if e.kind != EventKind.DEPLOY
            or now_s - self._deployed_at.get(e.service, -DEPLOY_DEDUP_S) >= DEPLOY_DEDUP_S
        ]

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
        # Names and command lines of processes seen before are remembered: a process
        # that listens is alive and no zombie. Given pids, and every one once every
        # INFO_REFRESH observations, are read again.
        self._observations += 1
        if self._observations % INFO_REFRESH == 0:
            self._infos.clear()
        given = {spec.pid for spec in self.settings.services if spec.kind is SpecKind.PID}
        unknown = {pid for pid in pids if pid not in self._infos or pid in given}
        for pid in unknown:
            self._infos.pop(pid, None)  # gone, unless read again just below
        for info in processes_by_pid(unknown, self._ps):
            self._infos[info.pid] = info
        found = [self._infos[pid] for pid in pids if pid in self._infos]
        for pid in [p for p in self._infos if p not in pids]:
            del self._infos[pid]
        return found

    def _cgroup(
        self,
        name: str,
        pids: Mapping[int, ProcessStat],
        read: dict[tuple[tuple[str, str], ...], CgroupStat | None],
    ) -> CgroupStat | None:
        """The service's cgroup, read by its last known path once its processes are gone
        (an OOM kill often takes the only process). A process's cgroup is looked up once;
        a cgroup shared by several services is read once per observation (`read`)."""
        if pids:
            pid = min(pids)
            paths = self._paths_by_pid.get(pid)
            if paths is None:
                paths = self._paths_by_pid[pid] = self._cgroups.paths_of(pid)
            self._cgroup_paths[name] = paths
        paths = self._cgroup_paths.get(name)
        if not paths:
            return None
        key = tuple(sorted(paths.items()))
        if key not in read:
            read[key] = self._cgroups.read(paths)
        return read[key]

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
                self._transport.forget(name)
                for kept in (self._quiet, self._resting, self._looked):
                    kept.pop(name, None)
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
        descendants = self._descendants.percent(name)  # a backend's query is the server's CPU
        if cpu:
            values["cpu_percent"] = float(sum(cpu)) + (descendants or 0.0)
        fds = [s.fds for s in stats if s.fds is not None]
        if fds:
            values["fds"] = float(sum(fds))
        waited = _cpu_wait_ms([s.waited for s in stats] + [self._descendants.waited(name)])
        if waited is not None:
            values[CPU_WAIT] = waited
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

    def _cgroup_samples(
        self, name: str, now_s: float, cgroup: CgroupStat | None, pids: Collection[int]
    ) -> list[Sample]:
        """The cgroup's figures, when the cgroup is the service's own: a cgroup holding
        other processes too (a container's, a login session's) is not the service's,
        and its memory is not reported as the service's."""
        if cgroup is None or not cgroup_is_own(cgroup, pids):
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


def _cpu_wait_ms(waits: list[SchedStat | None]) -> float | None:
    """The mean wait for a CPU per timeslice of the processes' threads and their
    descendants since their previous readings, in ms (the run delay a thread woken by a
    request, or preempted while it works, meets before it runs again); 0 when none was
    given a timeslice, None when nothing was read twice."""
    total = summed(waits)
    if total is None:
        return None
    return total.wait_ns / total.slices / 1e6 if total.slices else 0.0


def _steady_process(process: ProcessStat, before: tuple[ProcessStat, ...]) -> bool:
    """Idle, and its memory, threads and descriptors as they were."""
    old = next((p for p in before if p.pid == process.pid), None)
    return (
        old is not None
        and (process.cpu_percent or 0.0) < _STEADY_CPU_PERCENT
        and abs(process.rss_bytes - old.rss_bytes) <= 0.02 * old.rss_bytes
        and process.threads == old.threads
        and process.fds == old.fds
    )


def cgroup_is_own(cgroup: CgroupStat, pids: Collection[int]) -> bool:
    """Whether the cgroup holds the service's processes only (unknown: assumed so)."""
    return not cgroup.pids or cgroup.pids <= set(pids)


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
