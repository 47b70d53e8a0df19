"""Translate Coral's models to and from protobuf (`coral.v1`). Nothing else sees protobuf.

Decoding validates what the types cannot: a message that breaks a rule raises
ProtocolError naming the field, so the servicer can refuse it with a reason.
"""

from __future__ import annotations

import ipaddress
import math
import re

from coral_mcp.errors import ProtocolError
from coral_mcp.models import (
    DetailKind,
    DetailQuery,
    Endpoint,
    Event,
    EventBatch,
    MetricSummary,
    Peer,
    QueryReply,
    ServiceBatch,
    ServiceState,
    Severity,
    SummaryWindow,
)
from coral_mcp.models.messages import DataBody
from coral_mcp.models.metrics import LEGACY_COMPONENT_HEALTH, current_metric_name
from coral_mcp.proto import coral_pb2 as pb

MAX_NAME_CHARS = 128
MAX_MESSAGE_CHARS = 4096
MAX_ATTRIBUTES = 32
INT32_MAX = 2**31 - 1
#: Highest sequence number either side accepts: far beyond any agent's lifetime (an
#: agent sending 1,000 messages a second needs 146 million years), far below 2**64.
MAX_SEQ = 2**62
#: Largest step forward from the committed sequence the colony accepts: an agent that
#: lost its backlog skips at most what it held, never a million messages.
MAX_SEQ_JUMP = 1_000_000


#: Timestamps accepted from agents: 1970 to 2100-01-01 UTC (the colony also refuses
#: what lies more than a day ahead of its clock; retention drops what is too old).
MIN_TS_MS = 0
MAX_TS_MS = 4_102_444_800_000
#: Characters that must never reach a terminal or a log line from an agent: C0 and C1
#: controls (ESC starts terminal escapes) and the bidirectional overrides.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _name(value: str, what: str, limit: int = MAX_NAME_CHARS) -> str:
    """An identifier from an agent: bounded, and nothing unprintable in it."""
    if not value or len(value) > limit:
        raise ProtocolError(f"{what} must be 1-{limit} characters (got {len(value)})")
    if _UNPRINTABLE.search(value):
        raise ProtocolError(f"{what} {value!r} holds control characters")
    return value


def name(value: str, what: str, limit: int = MAX_NAME_CHARS) -> str:
    """`_name` for the servicer (agent ids, hostnames, versions)."""
    return _name(value, what, limit)


def _text(value: str, what: str) -> str:
    """Free text from an agent: bounded; control characters shown escaped, never raw."""
    if len(value) > MAX_MESSAGE_CHARS:
        raise ProtocolError(f"{what} longer than {MAX_MESSAGE_CHARS} characters")
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], value)


def _ts_ms(value: int, what: str) -> int:
    if not MIN_TS_MS <= value <= MAX_TS_MS:
        raise ProtocolError(f"{what} {value} is not a time between 1970 and 2100")
    return value


def _int32(value: int, what: str) -> int:
    if not 0 <= value <= INT32_MAX:
        raise ProtocolError(f"{what} {value} is out of range 0-{INT32_MAX}")
    return value


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ProtocolError(f"{what} is not a finite number ({value})")
    return value


def endpoint_to_pb(endpoint: Endpoint) -> pb.Endpoint:
    return pb.Endpoint(ip=endpoint.ip, port=endpoint.port)


def endpoint_from_pb(msg: pb.Endpoint) -> Endpoint:
    try:
        ip = str(ipaddress.ip_address(msg.ip))
    except ValueError:
        ip = ""
    if not ip or not 0 < msg.port < 65536:
        raise ProtocolError(f"endpoint {msg.ip[:64]!r}:{msg.port} is not an IP address and port")
    return Endpoint(ip, msg.port)


def summary_window_to_pb(window: SummaryWindow) -> pb.SummaryBatch:
    return pb.SummaryBatch(
        window_start_ms=window.start_ms,
        window_end_ms=window.end_ms,
        summaries=[
            pb.MetricSummary(
                service=s.service,
                metric=s.metric,
                min=s.min,
                max=s.max,
                avg=s.avg,
                last=s.last,
                p95=s.p95,
                count=s.count,
            )
            for s in window.summaries
        ],
    )


def summary_window_from_pb(msg: pb.SummaryBatch) -> SummaryWindow:
    if msg.window_end_ms < msg.window_start_ms:
        raise ProtocolError("summary window ends before it starts")
    _ts_ms(msg.window_start_ms, "window start")
    _ts_ms(msg.window_end_ms, "window end")
    summaries = []
    isfinite = math.isfinite
    for s in msg.summaries:  # the colony's hottest loop: checks in bulk, precise on failure
        service, metric = s.service, s.metric
        lo, hi, avg, last, p95, count = s.min, s.max, s.avg, s.last, s.p95, s.count
        # The sum is finite when every value is (a NaN or an infinity makes it NaN or
        # infinite; finite values summing past the float range only take the slow path).
        if not (
            0 < len(service) <= MAX_NAME_CHARS
            and 0 < len(metric) <= MAX_NAME_CHARS
            and isfinite(lo + hi + avg + last + p95)
            and count <= INT32_MAX
        ):
            _name(service, "summary service")
            _name(metric, "summary metric")
            for value, what in zip(
                (lo, hi, avg, last, p95), ("min", "max", "avg", "last", "p95"), strict=True
            ):
                _finite(value, what)
            _int32(count, "count")
        if metric.startswith(LEGACY_COMPONENT_HEALTH):  # an agent from before the rename
            metric = current_metric_name(metric)
        summaries.append(MetricSummary(service, metric, lo, hi, avg, last, p95, count))
    # Control characters, checked once over every name of the batch.
    if _UNPRINTABLE.search("".join([s.service + s.metric for s in summaries])):
        for summary in summaries:
            _name(summary.service, "summary service")
            _name(summary.metric, "summary metric")
    return SummaryWindow(msg.window_start_ms, msg.window_end_ms, tuple(summaries))


def service_to_pb(state: ServiceState) -> pb.Service:
    return pb.Service(
        name=state.name,
        spec=state.spec,
        pids=list(state.pids),
        listen=[endpoint_to_pb(e) for e in state.listen],
    )


def service_from_pb(msg: pb.Service, peers: tuple[Peer, ...] = ()) -> ServiceState:
    return ServiceState(
        name=_name(msg.name, "service name"),
        spec=_text(msg.spec, "service spec"),
        pids=tuple(_int32(pid, "pid") for pid in msg.pids),
        listen=tuple(endpoint_from_pb(e) for e in msg.listen),
        peers=peers,
    )


def service_batch_to_pb(batch: ServiceBatch) -> pb.ServiceBatch:
    return pb.ServiceBatch(
        observed_ms=batch.observed_ms,
        services=[
            pb.ServiceState(
                service=service_to_pb(state),
                peers=[
                    pb.Peer(remote=endpoint_to_pb(p.remote), connections=p.connections)
                    for p in state.peers
                ],
            )
            for state in batch.services
        ],
    )


class ServicesSeen:
    """One agent's last service batch as sent and as decoded. Most pushes repeat the
    agent's services byte for byte (only their time differs): those take the services
    decoded before, instead of parsing and checking every name and address again (on a
    colony under load, about as much work as decoding all summaries)."""

    __slots__ = ("sent", "services")

    def __init__(self) -> None:
        self.sent: tuple[bytes, ...] = ()
        self.services: tuple[ServiceState, ...] = ()


def service_batch_from_pb(msg: pb.ServiceBatch, seen: ServicesSeen | None = None) -> ServiceBatch:
    """The batch; with `seen` (the sending agent's), services sent as last time are not
    decoded again."""
    observed_ms = _ts_ms(msg.observed_ms, "services observed at")
    if seen is None:
        return ServiceBatch(observed_ms, _services_from_pb(msg))
    sent = tuple(state.SerializeToString() for state in msg.services)
    if sent != seen.sent:
        seen.services = _services_from_pb(msg)  # a batch refused is never remembered
        seen.sent = sent
    return ServiceBatch(observed_ms, seen.services)


def _services_from_pb(msg: pb.ServiceBatch) -> tuple[ServiceState, ...]:
    return tuple(
        service_from_pb(
            state.service,
            tuple(
                Peer(endpoint_from_pb(p.remote), _int32(p.connections, "connections"))
                for p in state.peers
            ),
        )
        for state in msg.services
    )


def event_batch_to_pb(batch: EventBatch) -> pb.EventBatch:
    return pb.EventBatch(
        events=[
            pb.Event(
                ts_ms=e.ts_ms,
                service=e.service,
                kind=e.kind,
                severity=e.severity.value,
                message=e.message,
                attributes=dict(e.attributes),
            )
            for e in batch.events
        ]
    )


def event_batch_from_pb(msg: pb.EventBatch) -> EventBatch:
    events = []
    for e in msg.events:
        try:
            severity = Severity(e.severity)
        except ValueError:
            raise ProtocolError(
                f"event severity {e.severity!r} is not info, warning or critical"
            ) from None
        if len(e.attributes) > MAX_ATTRIBUTES:
            raise ProtocolError(f"event carries more than {MAX_ATTRIBUTES} attributes")
        events.append(
            Event(
                ts_ms=_ts_ms(e.ts_ms, "event time"),
                service=_name(e.service, "event service"),
                kind=_name(e.kind, "event kind"),
                severity=severity,
                message=_text(e.message, "event message"),
                attributes=tuple(
                    sorted(
                        (_name(k, "event attribute"), _text(v, "event attribute value"))
                        for k, v in e.attributes.items()
                    )
                ),
            )
        )
    return EventBatch(tuple(events))


def detail_query_to_pb(query: DetailQuery) -> pb.DetailQuery:
    return pb.DetailQuery(
        query_id=query.query_id,
        kind=query.kind.value,
        service=query.service,
        metric=query.metric,
        start_ms=query.start_ms,
        end_ms=query.end_ms,
        limit=query.limit,
        deadline_ms=query.deadline_ms,
    )


def detail_query_from_pb(msg: pb.DetailQuery) -> DetailQuery:
    try:
        kind = DetailKind(msg.kind)
    except ValueError:
        raise ProtocolError(f"detail query kind {msg.kind!r} is unknown") from None
    return DetailQuery(
        query_id=msg.query_id,
        kind=kind,
        service=msg.service,
        metric=msg.metric,
        start_ms=msg.start_ms,
        end_ms=msg.end_ms,
        limit=msg.limit,
        deadline_ms=msg.deadline_ms,
    )


def query_reply_to_pb(reply: QueryReply) -> pb.QueryReply:
    return pb.QueryReply(
        query_id=reply.query_id, json=reply.json, error=reply.error, truncated=reply.truncated
    )


def query_reply_from_pb(msg: pb.QueryReply) -> QueryReply:
    return QueryReply(
        query_id=msg.query_id, json=msg.json, error=msg.error, truncated=msg.truncated
    )


def data_to_pb(seq: int, body: DataBody) -> pb.AgentMessage:
    """A sequenced agent message carrying `body`."""
    if isinstance(body, SummaryWindow):
        return pb.AgentMessage(seq=seq, summaries=summary_window_to_pb(body))
    if isinstance(body, ServiceBatch):
        return pb.AgentMessage(seq=seq, services=service_batch_to_pb(body))
    return pb.AgentMessage(seq=seq, events=event_batch_to_pb(body))


def data_from_pb(message: pb.AgentMessage, seen: ServicesSeen | None = None) -> DataBody:
    """The body of a sequenced agent message; ProtocolError if it carries no data.
    `seen`: the sending agent's, see service_batch_from_pb."""
    kind = message.WhichOneof("body")
    if kind == "summaries":
        return summary_window_from_pb(message.summaries)
    if kind == "services":
        return service_batch_from_pb(message.services, seen)
    if kind == "events":
        return event_batch_from_pb(message.events)
    raise ProtocolError(f"message kind {kind!r} carries no data")
