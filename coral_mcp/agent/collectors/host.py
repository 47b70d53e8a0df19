"""The host as a whole: CPU (and how many), load, memory, swap, disk usage and I/O, network I/O, and
TCP counters (retransmits, failed attempts, resets).

psutil and the `/proc` root (through ProcFS) are the seams. Counters since boot become
per-second rates from the second reading on. All series belong to the pseudo-service
HOST_SERVICE so they travel and summarize like any other.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

import psutil

from coral_mcp.agent.collectors.procfs import ProcFS
from coral_mcp.agent.rates import Rates
from coral_mcp.models import Sample

logger = logging.getLogger(__name__)

HOST_SERVICE = "host"
CPUS = os.cpu_count() or 1


class HostSampler:
    def __init__(
        self, ps: ModuleType = psutil, procfs: ProcFS | None = None, disk_path: str = "/"
    ) -> None:
        self._ps = ps
        self._procfs = procfs or ProcFS()
        self._disk_path = disk_path
        self._rates = Rates()
        self._ps.cpu_percent(interval=None)  # the first reading is meaningless: discard it

    def sample(self, ts_s: float) -> list[Sample]:
        values: dict[str, float] = {"cpu_percent": float(self._ps.cpu_percent(interval=None))}
        load1, load5, load15 = os.getloadavg()
        # The CPUs the load is spread over: load per CPU above 1 is tasks queueing for one.
        values.update(load1=load1, load5=load5, load15=load15, cpu_count=float(CPUS))
        memory = self._ps.virtual_memory()
        values.update(
            memory_total_bytes=float(memory.total),
            memory_available_bytes=float(memory.available),
            memory_used_percent=float(memory.percent),
        )
        swap = self._ps.swap_memory()
        values.update(swap_used_bytes=float(swap.used), swap_used_percent=float(swap.percent))
        try:
            disk = self._ps.disk_usage(self._disk_path)
            values.update(disk_used_bytes=float(disk.used), disk_used_percent=float(disk.percent))
        except OSError as exc:
            logger.warning("cannot read disk usage of %s: %s", self._disk_path, exc)
        counters: dict[str, float] = {}
        disk_io = self._ps.disk_io_counters()
        if disk_io is not None:
            counters.update(
                disk_read_bytes=disk_io.read_bytes, disk_write_bytes=disk_io.write_bytes
            )
        net_io = self._ps.net_io_counters()
        if net_io is not None:
            counters.update(
                net_recv_bytes=net_io.bytes_recv,
                net_sent_bytes=net_io.bytes_sent,
                net_errors=net_io.errin + net_io.errout,
                net_drops=net_io.dropin + net_io.dropout,
            )
        counters.update(self._procfs.tcp_counters())
        for name, total in counters.items():
            rate = self._rates.rate(name, ts_s, float(total))
            if rate is not None:
                values[f"{name}_per_s"] = rate
        self._rates.end_round()
        return [Sample(ts_s, HOST_SERVICE, name, value) for name, value in values.items()]
