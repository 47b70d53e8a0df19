"""Identity and names of auto-discovered services, stable across restarts.

A name the application gives itself (`CORAL_SERVICE_NAME` or OpenTelemetry's
`OTEL_SERVICE_NAME` in its environment, else the `service=` of Coral's SDK when its
endpoint answers by the time the process is first seen listening) or its systemd unit
names a service outright: every process carrying it belongs to it. Other listening
processes are told apart by what they run (executable, or script for interpreters), their
working directory and their lowest listening port: workers of one server share all
three, while three `python app.py` in three directories are three services. Their
names are short and readable: the program's name (`app`), and when another service
already has it, the program's name with its port (`app-8081`). A name, once given to
an identity, stays with it for the agent's life, so a restart lands in the same
service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from coral_mcp.agent.collectors.processes import ProcessInfo, clean_name, service_name_for
from coral_mcp.agent.collectors.procfs import ProcFS

NAME_VARIABLES = ("CORAL_SERVICE_NAME", "OTEL_SERVICE_NAME")
_SUFFIX = ".service"
#: An identity: (name, None, None) when the process names itself, else
#: (program name, working directory, lowest listening port).
Identity = tuple[str, str | None, int | None]


class ServiceNamer:
    def __init__(self, procfs: ProcFS, sdk_name: Callable[[int], str | None] | None = None) -> None:
        """`sdk_name(pid)`: the service name the process's SDK reports, or None."""
        self._procfs = procfs
        self._sdk_name = sdk_name
        self._cache: dict[tuple[int, str, tuple[str, ...]], tuple[str, bool]] = {}
        self._names: dict[Identity, str] = {}
        self._pid_names: dict[int, str] = {}

    def __call__(self, process: ProcessInfo) -> str:
        """The program's own name for the process (without disambiguation)."""
        return self._base(process)[0]

    def _base(self, process: ProcessInfo) -> tuple[str, bool]:
        key = (process.pid, process.name, process.cmdline)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._name(process)
        return found

    def _name(self, process: ProcessInfo) -> tuple[str, bool]:
        """(name, given): given when the application or its unit chose it."""
        for variable in NAME_VARIABLES:
            value = clean_name(self._procfs.environ_value(process.pid, variable) or "")
            if value:
                return value, True
        if self._sdk_name is not None:
            value = clean_name(self._sdk_name(process.pid) or "")
            if value:
                return value, True
        unit = self._procfs.systemd_unit(process.pid)
        if unit:
            unit_name = clean_name(unit.removesuffix(_SUFFIX))
            if unit_name:
                return unit_name, True
        return service_name_for(process), False

    def group(
        self, processes: Mapping[int, ProcessInfo], ports: Mapping[int, set[int]]
    ) -> dict[str, set[int]]:
        """Auto-discovered services: name -> pids, for the listening `processes`
        (`ports`: each pid's listening ports)."""
        by_identity: dict[Identity, set[int]] = {}
        services: dict[str, set[int]] = {}
        for pid, process in processes.items():
            if pid in self._pid_names:  # a process keeps its service while it lives
                services.setdefault(self._pid_names[pid], set()).add(pid)
                continue
            name, given = self._base(process)
            identity: Identity = (
                (name, None, None) if given else (name, process.cwd, min(ports.get(pid) or {0}))
            )
            by_identity.setdefault(identity, set()).add(pid)
        taken = {n for i, n in self._names.items() if i in by_identity} | set(services)
        for identity in sorted(by_identity, key=lambda i: (i[0], i[2] or 0, i[1] or "")):
            known = self._names.get(identity)
            if known is None:
                known = self._names[identity] = self._fresh_name(identity, taken)
                taken.add(known)
            services.setdefault(known, set()).update(by_identity[identity])
            self._pid_names.update(dict.fromkeys(by_identity[identity], known))
        return services

    def _fresh_name(self, identity: Identity, taken: set[str]) -> str:
        base, _, port = identity
        if base not in taken:
            return base
        candidate = f"{base}-{port}" if port else base
        number = 2
        while candidate in taken:
            candidate = f"{base}-{port or ''}-{number}".replace("--", "-")
            number += 1
        return candidate

    def retain(self, pids: set[int]) -> None:
        """Forget processes that are gone (names given to identities are kept)."""
        for key in [k for k in self._cache if k[0] not in pids]:
            del self._cache[key]
        for pid in [p for p in self._pid_names if p not in pids]:
            del self._pid_names[pid]
