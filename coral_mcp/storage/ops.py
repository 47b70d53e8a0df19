"""Write operations: what the ingest path asks the single writer to commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from coral_mcp.models import EventBatch, ServiceBatch, ServiceState, SummaryWindow


def to_db_time(ms: int) -> datetime:
    """Epoch milliseconds -> naive UTC datetime, as stored."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def db_time(value: datetime) -> datetime:
    """Aware UTC -> naive UTC for a query parameter."""
    return value.astimezone(UTC).replace(tzinfo=None)


def from_db_time(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RegisterAgent:
    agent_id: str
    hostname: str
    agent_version: str
    protocol_version: int
    peer: str
    services: tuple[ServiceState, ...]
    now_ms: int


@dataclass(frozen=True, slots=True)
class StoreSummaries:
    agent_id: str
    seq: int
    window: SummaryWindow


@dataclass(frozen=True, slots=True)
class StoreServices:
    agent_id: str
    seq: int
    batch: ServiceBatch


@dataclass(frozen=True, slots=True)
class StoreEvents:
    agent_id: str
    seq: int
    batch: EventBatch
    now_ms: int


@dataclass(frozen=True, slots=True)
class SkipMessage:
    """A message that needs no write (refused, or nothing changed): its sequence number
    still counts as handled."""

    agent_id: str
    seq: int
    now_ms: int


WriteOp = RegisterAgent | StoreSummaries | StoreServices | StoreEvents | SkipMessage
