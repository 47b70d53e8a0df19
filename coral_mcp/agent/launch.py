"""Handing validated agent settings from `coral agent start` to the lean agent process.

The CLI parses flags and the config file, joins the mesh, then re-executes Python as
`python -m coral_mcp.agent` (same pid) with the settings as JSON in `LAUNCH_ENV`. The
lean process decodes them here, without importing the CLI, click or pydantic.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from coral_mcp.config import AgentSettings
from coral_mcp.errors import ConfigError
from coral_mcp.models import ServiceSpec, SpecKind
from coral_mcp.models.checks import CheckKind, HealthCheckSpec, ScrapeSpec

#: Set to 0 to run `coral agent start` in place, without the lean re-execution.
LEAN_ENV = "CORAL_AGENT_LEAN"
#: The launch document (settings and log level) passed to the lean process.
LAUNCH_ENV = "CORAL_AGENT_LAUNCH"

_PATHS = ("data_dir", "proc_root", "cgroup_root")


def encode_launch(settings: AgentSettings, log_level: str) -> str:
    doc = {"log_level": log_level, "settings": dataclasses.asdict(settings)}
    return json.dumps(doc, default=str)


def decode_launch(text: str) -> tuple[AgentSettings, str]:
    """The settings and log level `encode_launch` wrote; ConfigError if it is not that."""
    try:
        doc = json.loads(text)
        fields: dict[str, Any] = dict(doc["settings"])
        for name in _PATHS:
            fields[name] = Path(fields[name])
        if fields.get("colony_token_file") is not None:
            fields["colony_token_file"] = Path(fields["colony_token_file"])
        fields["services"] = tuple(
            ServiceSpec(s["name"], SpecKind(s["kind"]), s["value"]) for s in fields["services"]
        )
        fields["health_checks"] = tuple(
            HealthCheckSpec(**{**c, "kind": CheckKind(c["kind"])}) for c in fields["health_checks"]
        )
        fields["scrapes"] = tuple(ScrapeSpec(**c) for c in fields["scrapes"])
        fields["auto_probe_skip"] = tuple(fields.get("auto_probe_skip", ()))
        return AgentSettings(**fields), str(doc["log_level"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"malformed agent launch settings: {exc}",
            hint="start the agent with `coral agent start`",
        ) from None


def needs_tls(settings: AgentSettings) -> bool:
    """Whether any URL the agent will fetch (health checks, scrapes) is HTTPS."""
    urls = [check.target for check in settings.health_checks]
    urls += [scrape.url for scrape in settings.scrapes]
    return any(url.startswith("https://") for url in urls)
