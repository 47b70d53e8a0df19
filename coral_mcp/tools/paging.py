"""Cursors for list tools: opaque to the model, an offset inside."""

from __future__ import annotations

import base64
import binascii

from coral_mcp.errors import QueryError


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


#: Largest offset a cursor may carry (no list is near it; beyond it DuckDB fails).
MAX_OFFSET = 10**9


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        kind, _, value = text.partition(":")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise QueryError(
            f"cursor {cursor!r} is not one this server gave out",
            hint="pass next_cursor from the previous result unchanged, or omit it",
        ) from None
    if kind != "o" or not 0 <= offset <= MAX_OFFSET:
        raise QueryError(f"cursor {cursor!r} is not one this server gave out")
    return offset
