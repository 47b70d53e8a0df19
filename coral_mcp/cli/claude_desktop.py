"""The Claude Desktop configuration that starts `coral-mcp serve` for this machine."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from coral_mcp.cli.common import script_path
from coral_mcp.errors import ConfigError


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


def default_config_path(platform: str, home: Path, appdata: str | None) -> Path:
    """Where Claude Desktop keeps its configuration on this platform."""
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if platform.startswith("win") and appdata:
        return Path(appdata) / "Claude" / "claude_desktop_config.json"
    return home / ".config" / "Claude" / "claude_desktop_config.json"


def merge_into(path: Path, data_root: Path) -> dict[str, Any]:
    """Add (or replace) `mcpServers.coral` in the config at `path`, keeping the rest."""
    config: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text() or "{}")
        except ValueError as exc:
            raise ConfigError(
                f"{path} is not valid JSON ({exc})", hint="fix it, or move it away and retry"
            ) from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("mcpServers", {}), dict):
            raise ConfigError(f"{path} does not hold a JSON object with an mcpServers object")
        config = loaded
    config.setdefault("mcpServers", {}).update(claude_desktop_config(data_root)["mcpServers"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    return config
