"""The JSON documents behind Coral's MCP resources: the same as the matching tools'.

A resource is a tool result an assistant can attach as context without calling a tool;
keeping one logic for both means their schemas cannot drift apart.
"""

from __future__ import annotations

from coral_mcp.tools import asks, colony, intelligence, service_detail, services, topology
from coral_mcp.tools.data import CoralData

RECENT_EVENTS = 100


async def topology_document(data: CoralData) -> str:
    return (await topology.get_topology(data)).model_dump_json()


async def services_document(data: CoralData) -> str:
    return (await services.list_services(data, limit=services.MAX_LIMIT)).model_dump_json()


async def service_document(data: CoralData, name: str) -> str:
    return (await service_detail.get_service(data, name)).model_dump_json()


async def events_document(data: CoralData, service: str | None = None) -> str:
    found = await colony.get_events(data, service=service, limit=RECENT_EVENTS)
    return found.model_dump_json()


async def baselines_document(data: CoralData) -> str:
    found = await intelligence.get_baselines(data, limit=intelligence.MAX_BASELINES)
    return found.model_dump_json()


async def correlations_document(data: CoralData) -> str:
    return (await intelligence.get_correlations(data)).model_dump_json()


async def investigation_document(data: CoralData, investigation_id: str) -> str:
    if investigation_id.startswith(asks.ASK_PREFIX):  # a `coral ask` conversation
        return (await asks.recorded_ask(data, investigation_id)).model_dump_json()
    found = await intelligence.recorded_investigation(data, investigation_id)
    return found.model_dump_json()
