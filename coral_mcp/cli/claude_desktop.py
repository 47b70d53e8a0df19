"""The Claude Desktop configuration that starts `coral-mcp serve` for this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coral_mcp.cli.common import script_path


def claude_desktop_config(data_root: Path) -> dict[str, Any]:
    """`mcpServers.coral` for claude_desktop_config.json, with absolute paths.

    `coral-mcp serve --data-dir ROOT` finds the colony running there and reads its token
    from disk, so the configuration holds no secret; with no colony running it starts
    an embedded one.
    """
    args = ["serve", "--data-dir", str(data_root.resolve())]
    return {"mcpServers": {"coral": {"command": script_path("coral-mcp"), "args": args}}}


def claude_desktop_snippet(data_root: Path) -> str:
    return json.dumps(claude_desktop_config(data_root), indent=2)
