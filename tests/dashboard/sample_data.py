"""A colony data dir holding a recent incident, written through the colony's own code.

The incident is the `bad_deploy` replay case of tests/intelligence/cases.py (web -> api
-> db; api deployed 2.3.0, then its error rate rose and its callers slowed), shifted so
that it ends now. It is imported with the replay importer (the colony's writer, the
agent message shapes), then the colony's analysis runs once as its loop would (learn
baselines, detect anomalies, correlate), so a colony started on the dir has a map,
charts with baselines and anomalies, events and a correlation to show.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

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


def write_incident(case_root: Path, end_s: float) -> Path:
    """The bad-deploy case with its last sample a minute before `end_s`."""
    series = cases.normal()
    series[("api", "error_rate")][cases.FAULT_AT :] += 0.15
    cases.slower_callers(series, "api")
    t0 = int(end_s // 60) * 60 - cases.N * cases.STEP

    def at(i: int) -> int:
        return t0 + i * cases.STEP

    rows = (
        (at(i), service, metric, repr(float(values[i])))
        for i in range(cases.N)
        for (service, metric), values in sorted(series.items())
    )
    events = [(at(cases.FAULT_AT) - 30, "api", "deploy", "version=2.3.0 previous_version=2.2.5")]
    doc = {"incident_time": at(cases.FAULT_AT), "root_cause": {"service": "api", "kind": "x"}}
    return save_case(case_root / "bad_deploy", rows, events, EDGES, doc)


async def _fill(data_dir: Path, case_dir: Path) -> None:
    store = ColonyStore(data_dir)
    writer = Writer(store)
    writer.start()
    try:
        _, last = await import_case(load_case(case_dir), store, writer)
        await writer.write(StoreServices(AGENT, 10_000, _sockets(last)))
        await writer.run(store.resolve_edges)
        intel = Intelligence(store, writer, clock=lambda: last)
        await intel.refresh_baselines()
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


def colony_dir_with_incident(root: Path) -> Path:
    """A colony data dir under `root` with the incident imported and analysed."""
    data_dir = root / "colony"
    data_dir.mkdir(parents=True)
    case_dir = write_incident(root / "case", time.time())
    asyncio.run(_fill(data_dir, case_dir))
    return data_dir


def started(case_dir: Path) -> datetime:
    return datetime.fromtimestamp(load_case(case_dir).metrics[0][0], UTC)
