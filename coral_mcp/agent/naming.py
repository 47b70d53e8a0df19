"""Names for auto-discovered services, stable across restarts.

In order: the name the application gives itself (`CORAL_SERVICE_NAME` from Coral's SDK,
or OpenTelemetry's `OTEL_SERVICE_NAME`, in its environment), its systemd unit, then
its executable (or script, for interpreters). All three survive a restart, so a
restarted process lands in the same service. Names are cached per process.
"""

from __future__ import annotations

from coral_mcp.agent.collectors.processes import ProcessInfo, clean_name, service_name_for
from coral_mcp.agent.collectors.procfs import ProcFS

NAME_VARIABLES = ("CORAL_SERVICE_NAME", "OTEL_SERVICE_NAME")
_SUFFIX = ".service"


class ServiceNamer:
    def __init__(self, procfs: ProcFS) -> None:
        self._procfs = procfs
        self._cache: dict[tuple[int, str, tuple[str, ...]], str] = {}

    def __call__(self, process: ProcessInfo) -> str:
        key = (process.pid, process.name, process.cmdline)
        name = self._cache.get(key)
        if name is None:
            name = self._cache[key] = self._name(process)
        return name

    def _name(self, process: ProcessInfo) -> str:
        for variable in NAME_VARIABLES:
            value = clean_name(self._procfs.environ_value(process.pid, variable) or "")
            if value:
                return value
        unit = self._procfs.systemd_unit(process.pid)
        if unit:
            unit_name = clean_name(unit.removesuffix(_SUFFIX))
            if unit_name:
                return unit_name
        return service_name_for(process)

    def retain(self, pids: set[int]) -> None:
        """Forget processes that are gone."""
        for key in [k for k in self._cache if k[0] not in pids]:
            del self._cache[key]
