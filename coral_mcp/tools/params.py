"""The parameters Coral's tools share, declared once with what the model reads about them.

A tool's signature is its contract for MCP and REST alike: the MCP input schema and the
REST query parameters are both derived from these annotations and the defaults.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from coral_mcp.errors import QueryError

RANGE_FORMS = "RFC 3339, epoch seconds or relative ('1h', 'now-30m')."

Service = Annotated[str, Field(description="Service name, as list_services gives it.")]
OnlyService = Annotated[str | None, Field(description="Only this service.")]
Start = Annotated[str | None, Field(description=f"Range start: {RANGE_FORMS}")]
StartHourAgo = Annotated[
    str | None, Field(description=f"Range start: {RANGE_FORMS} Default 1h ago.")
]
End = Annotated[str | None, Field(description=f"Range end: {RANGE_FORMS} Default now.")]
Limit = Annotated[int, Field(description="Items per page.")]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page.")]
Detail = Annotated[
    bool, Field(description="true: every field; default false: the summary, which is smaller.")
]


def check_limit(query: str, limit: int, maximum: int) -> None:
    """QueryError naming the query unless 1 <= limit <= maximum."""
    if not 1 <= limit <= maximum:
        raise QueryError(f"{query}: limit must be 1-{maximum} (got {limit})")
