"""Starting tests/data/watched_app.py and looking through a Sensor until something shows."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from coral_mcp.agent.sensing import Observation, Sensor
from coral_mcp.config import AgentSettings
from coral_mcp.models import Event, parse_service_spec
from tests.conftest import DATA, Processes, free_port, wait_for

APP = DATA / "watched_app.py"


def start_app(
    procs: Processes, name: str, *extra: str, python: str = sys.executable
) -> tuple[int, int]:
    """(pid, port) of a running watched_app."""
    port = free_port()
    proc = procs.start(name, [python, str(APP), "--port", str(port), *extra], wait_ready=True)
    return proc.pid, port


@contextmanager
def grpc_health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    """A real gRPC server on a free loopback port with the standard health service."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port, servicer
    finally:
        server.stop(None)


def sensor_for(tmp_path: Path, *specs: str, **settings: object) -> Sensor:
    """A Sensor for the specs; `clock=` is the Sensor's, everything else settings."""
    clock = settings.pop("clock", time.time)
    return Sensor(
        AgentSettings(
            data_dir=tmp_path,
            services=tuple(parse_service_spec(s) for s in specs),
            host_metrics=bool(settings.pop("host_metrics", False)),
            socket_scan_s=float(settings.pop("socket_scan_s", 0.01)),  # type: ignore[arg-type]
            **settings,  # type: ignore[arg-type]
        ),
        clock=clock,  # type: ignore[arg-type]
    )


def observe_until(
    sensor: Sensor, found: Callable[[Observation], bool], what: str, timeout_s: float = 20
) -> list[Observation]:
    """Observe repeatedly until `found` holds for one observation; all observations."""
    seen: list[Observation] = []

    def look() -> bool:
        seen.append(sensor.observe())
        return found(seen[-1])

    wait_for(look, timeout_s, what)
    return seen


def events_of(observations: list[Observation], kind: str) -> list[Event]:
    return [e for o in observations for e in o.events if e.kind == kind]


def has_event(kind: str) -> Callable[[Observation], bool]:
    return lambda o: any(e.kind == kind for e in o.events)
