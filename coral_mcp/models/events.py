"""Events (what happened, when, to which service) and detail queries to agents."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class EventKind(StrEnum):
    """Kinds the agent emits. The colony also stores kinds it does not know."""

    START = "start"
    EXIT = "exit"
    RESTART = "restart"
    CRASH = "crash"
    OOM_KILL = "oom_kill"
    DEPLOY = "deploy"
    HEALTH_FLIP = "health_flip"
    DEPENDENCY_NEW = "dependency_new"
    DEPENDENCY_LOST = "dependency_lost"
    #: A service's SDK said who it is (version, build); sent when first seen and on change.
    SERVICE_INFO = "service_info"


@dataclass(frozen=True, slots=True)
class Event:
    """`kind` happened to `service` at `ts_ms` (epoch ms)."""

    ts_ms: int
    service: str
    kind: str
    severity: Severity
    message: str
    attributes: tuple[tuple[str, str], ...] = ()

    def versions(self) -> tuple[str | None, str | None]:
        """(new, old) version a deploy names. The agent says `new_version` and
        `old_version`; recorded incidents (replay cases) say `version` and
        `previous_version`."""
        attrs = dict(self.attributes)
        new = attrs.get("new_version") or attrs.get("version") or None
        old = attrs.get("old_version") or attrs.get("previous_version") or None
        return new, old


@dataclass(frozen=True, slots=True)
class EventBatch:
    events: tuple[Event, ...]

    def halves(self) -> tuple[EventBatch, EventBatch] | None:
        """The batch split in two (to fit a message bound), or None for one event."""
        mid = len(self.events) // 2
        if mid == 0:
            return None
        return EventBatch(self.events[:mid]), EventBatch(self.events[mid:])


class DetailKind(StrEnum):
    SAMPLES = "samples"  # raw samples of a service (and metric) in a time range
    CONNECTIONS = "connections"  # a service's current sockets
    PROCESSES = "processes"  # a service's process tree
    EVENTS = "events"  # recent events the agent emitted


@dataclass(frozen=True, slots=True)
class DetailQuery:
    query_id: int
    kind: DetailKind
    service: str
    metric: str = ""
    start_ms: int = 0
    end_ms: int = 0
    limit: int = 1000
    deadline_ms: int = 0


@dataclass(frozen=True, slots=True)
class QueryReply:
    """An agent's answer: `json` (a document whose shape depends on the kind) or `error`."""

    query_id: int
    json: str = ""
    error: str = ""
    truncated: bool = False
