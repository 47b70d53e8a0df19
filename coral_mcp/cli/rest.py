"""Reading a running colony's REST API from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2

from coral_mcp.config import DEFAULT_HTTP_PORT
from coral_mcp.errors import ColonyUnreachableError, QueryError

STATE_FILE = "colony.json"


def colony_url(explicit: str | None, data_dir: Path) -> str:
    """--colony if given, else the colony running on data_dir, else the default port."""
    if explicit:
        url = explicit.rstrip("/")
        return url if url.startswith(("http://", "https://")) else "http://" + url
    try:
        return str(json.loads((data_dir / STATE_FILE).read_text())["http"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"http://127.0.0.1:{DEFAULT_HTTP_PORT}"


def get_json(base_url: str, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    url = base_url + path
    try:
        response = httpx2.get(url, params=params, timeout=10.0)
    except httpx2.TransportError as exc:
        raise ColonyUnreachableError(
            f"cannot reach the colony at {base_url} ({type(exc).__name__})",
            hint="is `coral colony start` or `coral up` running? check --colony",
        ) from None
    try:
        body = response.json()
    except ValueError:
        raise ColonyUnreachableError(
            f"{url} did not answer with JSON (HTTP {response.status_code})",
            hint="check that --colony points at a Coral colony's HTTP port",
        ) from None
    if response.status_code >= 400:
        raise QueryError(str(body.get("error", response.status_code)), hint=body.get("hint"))
    return dict(body)
