"""Time ranges as people and models write them: RFC 3339, epoch seconds, `15m`, `now-1h`.

Pure: `now` is always an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from coral_mcp.errors import QueryError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"^(?:now\s*-\s*)?(\d+(?:\.\d+)?)\s*([smhdw])$")
_FORMS = "RFC 3339 (2026-11-24T10:00:00Z), epoch seconds, 'now', or relative ('15m', 'now-1h')"


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def parse_time(text: str | float | int, now: datetime) -> datetime:
    """One point in time, aware UTC. Relative forms count back from `now`."""
    try:
        return _parse_time(text, now)
    except (OverflowError, OSError, ValueError):  # years past 9999, epochs past int64
        raise QueryError(f"time {str(text)[:40]!r} is out of range", hint=f"use {_FORMS}") from None


def _parse_time(text: str | float | int, now: datetime) -> datetime:
    if isinstance(text, int | float):
        return datetime.fromtimestamp(float(text), UTC)
    value = text.strip().lower()
    if value in ("", "now"):
        return now
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryError(f"cannot read time {text!r}", hint=f"use {_FORMS}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_range(
    start: str | float | int | None,
    end: str | float | int | None,
    now: datetime,
    default_span: timedelta = timedelta(hours=1),
) -> TimeRange:
    """[start, end) with defaults end=now, start=end-default_span; start must precede end."""
    end_at = parse_time(end, now) if end is not None else now
    start_at = parse_time(start, now) if start is not None else end_at - default_span
    if start_at >= end_at:
        raise QueryError(
            f"start {start_at.isoformat()} is not before end {end_at.isoformat()}",
            hint="give a start earlier than the end, e.g. start='1h', end='now'",
        )
    return TimeRange(start_at, end_at)


def rfc3339(value: datetime) -> str:
    """Aware datetime -> `2026-11-24T10:00:00Z` (UTC, seconds precision)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
