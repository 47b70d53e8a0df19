"""The JSON documents behind Coral's MCP resources: the same as the matching tools'.

A resource is a tool result an assistant can attach as context without calling a tool;
keeping one logic for both means their schemas cannot drift apart. Serialised as the
tools' results are (`as_json`); a resource is the full document (as detail=true).
"""

from __future__ import annotations

from coral_mcp.tools import asks, colony, intelligence, service_detail, services, topology
from coral_mcp.tools.catalog import as_json
from coral_mcp.tools.data import CoralData

RECENT_EVENTS = 100


async def topology_document(data: CoralData) -> str:
    return as_json(await topology.get_topology(data))


async def services_document(data: CoralData) -> str:
    return as_json(await services.list_services(data, limit=services.MAX_LIMIT, detail=True))


async def service_document(data: CoralData, name: str) -> str:
    return as_json(await service_detail.get_service(data, name, detail=True))


async def events_document(data: CoralData, service: str | None = None) -> str:
    found = await colony.get_events(data, service=service, limit=RECENT_EVENTS, detail=True)
    return as_json(found)


async def baselines_document(data: CoralData) -> str:
    found = await intelligence.get_baselines(data, limit=intelligence.MAX_BASELINES)
    return as_json(found)


async def correlations_document(data: CoralData) -> str:
    return as_json(await intelligence.get_correlations(data))


async def investigation_document(data: CoralData, investigation_id: str) -> str:
    if investigation_id.startswith(asks.ASK_PREFIX):  # a `coral ask` conversation
        return (await asks.recorded_ask(data, investigation_id)).model_dump_json()
    found = await intelligence.recorded_investigation(data, investigation_id)
    return as_json(found)
