"""Coral's shared vocabulary: plain, immutable values with no I/O."""

from coral_mcp.models.events import (
    DetailKind,
    DetailQuery,
    Event,
    EventBatch,
    EventKind,
    QueryReply,
    Severity,
)
from coral_mcp.models.metrics import MetricSummary, Sample, SummaryWindow
from coral_mcp.models.service_spec import ServiceSpec, SpecKind, parse_service_spec
from coral_mcp.models.topology import Endpoint, Peer, ServiceBatch, ServiceState
from coral_mcp.models.views import (
    AgentStatusView,
    AgentView,
    ColonyStatusView,
    EdgeView,
    EventView,
    ExternalPeerView,
    MetricGlance,
    MetricPoint,
    ServiceView,
    TopologyView,
)

__all__ = [
    "AgentStatusView",
    "AgentView",
    "ColonyStatusView",
    "DetailKind",
    "DetailQuery",
    "EdgeView",
    "Endpoint",
    "Event",
    "EventBatch",
    "EventKind",
    "EventView",
    "ExternalPeerView",
    "MetricGlance",
    "MetricPoint",
    "MetricSummary",
    "Peer",
    "QueryReply",
    "Sample",
    "ServiceBatch",
    "ServiceSpec",
    "ServiceState",
    "ServiceView",
    "Severity",
    "SpecKind",
    "SummaryWindow",
    "TopologyView",
    "parse_service_spec",
]
