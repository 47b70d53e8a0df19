"""The Claude Desktop configuration that starts `coral-mcp serve` for this machine."""

from __future__ import annotations

import json
from typing import Any

from coral_mcp.cli.common import script_path


def claude_desktop_config(colony_url: str | None) -> dict[str, Any]:
    """`mcpServers.coral` for claude_desktop_config.json, with absolute paths."""
    args = ["serve"] + (["--colony", colony_url] if colony_url else [])
    return {"mcpServers": {"coral": {"command": script_path("coral-mcp"), "args": args}}}


def claude_desktop_snippet(colony_url: str | None) -> str:
    return json.dumps(claude_desktop_config(colony_url), indent=2)
