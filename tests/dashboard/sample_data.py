"""A Coral data root (its colony dir) holding a recent incident, written through the
colony's own code.

The incident is shaped like the `bad_deploy` replay case of tests/intelligence/cases.py
(web -> api -> db; api deployed 2.3.0, then its error rate rose and its caller slowed),
with two hours of normal before it and ending now. It is imported with the replay importer (the colony's writer, the
agent message shapes), then the colony's analysis runs once as its loop would (learn
baselines, detect anomalies, correlate), so a colony started on the dir has a map,
charts with baselines and anomalies, events and a correlation to show.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from coral_mcp.intelligence.facade import Intelligence
from coral_mcp.intelligence.replay import AGENT, import_case, load_case, save_case
from coral_mcp.models import Endpoint
from coral_mcp.models.topology import Peer, ServiceBatch, ServiceState
from coral_mcp.storage.ops import StoreServices
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer
from tests.intelligence import cases

#: The known edges of the sample and the service the fault is in.
EDGES = cases.EDGES
#: Where each service listens and how many connections each caller holds to its callee.
PORTS = {"web": 8000, "api": 8080, "db": 5432, "batch": 9100}
CONNECTIONS = {("web", "api"): 4, ("api", "db"): 7}
ROOT_SERVICE = "api"
ANOMALOUS_METRIC = "error_rate"


#: Samples (one a minute) and the one where api's bad deploy starts to show: two hours
#: of normal (the colony learns baselines from data older than an hour), then 20 minutes
#: of incident, ending now.
SAMPLES = 140
FAULT_AT = 120


def _series() -> dict[tuple[str, str], np.ndarray]:
    wiggle = 1 + 0.03 * np.array([(-1, 0, 1, 0.5, -0.5)[i % 5] for i in range(SAMPLES)])
    series = {(s, m): level * wiggle for s in cases.SERVICES for m, level in cases.LEVELS.items()}
    series[("api", "error_rate")][FAULT_AT:] += 0.15
    for lag, caller in enumerate(["web"], start=1):
        series[(caller, "latency_ms")][FAULT_AT + lag :] *= 2
        series[(caller, "error_rate")][FAULT_AT + lag :] += 0.05
    return series


def write_incident(case_root: Path, end_s: float) -> Path:
    """The bad-deploy incident with its last sample a minute before `end_s`."""
    t0 = int(end_s // 60) * 60 - SAMPLES * 60

    def at(i: int) -> int:
        return t0 + i * 60

    rows = (
        (at(i), service, metric, repr(float(values[i])))
        for i in range(SAMPLES)
        for (service, metric), values in sorted(_series().items())
    )
    events = [(at(FAULT_AT) - 30, "api", "deploy", "version=2.3.0 previous_version=2.2.5")]
    doc = {"incident_time": at(FAULT_AT), "root_cause": {"service": "api", "kind": "bad_deploy"}}
    return save_case(case_root / "bad_deploy", rows, events, EDGES, doc)


async def _fill(colony_dir: Path, case_dir: Path) -> None:
    store = ColonyStore(colony_dir)
    writer = Writer(store)
    writer.start()
    try:
        _, last = await import_case(load_case(case_dir), store, writer)
        await writer.write(StoreServices(AGENT, 10_000, _sockets(last)))
        await writer.run(store.resolve_edges)
        # The colony's analysis loop, replayed: baselines learned before the fault,
        # then detection and correlation every few minutes up to now.
        incident = load_case(case_dir).incident_time
        fault_s = incident.timestamp() if incident else last
        clock = [fault_s - 60]
        intel = Intelligence(store, writer, clock=lambda: clock[0])
        await intel.refresh_baselines()
        while clock[0] < last:
            clock[0] = min(clock[0] + 180, last)
            await intel.correlate()
    finally:
        await writer.close()
        store.close()


def _sockets(observed_s: float) -> ServiceBatch:
    """The services' listening sockets and peers as an agent reports them: the colony
    resolves the edges from these, as it does live."""
    states = tuple(
        ServiceState(
            name,
            f"port:{port}",
            (4100 + i,),
            (Endpoint("127.0.0.1", port),),
            tuple(
                Peer(Endpoint("127.0.0.1", PORTS[callee]), n)
                for (caller, callee), n in CONNECTIONS.items()
                if caller == name
            ),
        )
        for i, (name, port) in enumerate(sorted(PORTS.items()))
    )
    return ServiceBatch(round(observed_s * 1000), states)


def data_root_with_incident(root: Path) -> Path:
    """A Coral data root under `root` (the `--data-dir` to start the colony with) whose
    colony dir (ROOT/colony) holds the incident, imported and analysed."""
    data_root = root / "data"
    colony_dir = data_root / "colony"
    colony_dir.mkdir(parents=True)
    case_dir = write_incident(root / "case", time.time())
    asyncio.run(_fill(colony_dir, case_dir))
    return data_root


def started(case_dir: Path) -> datetime:
    return datetime.fromtimestamp(load_case(case_dir).metrics[0][0], UTC)
