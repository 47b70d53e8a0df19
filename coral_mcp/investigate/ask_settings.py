"""Settings of `coral ask`: provider, model, limits and external MCP servers.

Read once by the CLI from the `[ask]` table of Coral's config file (TOML) and the
command line, then frozen and passed down. External servers use Claude Desktop's
`mcpServers` shape (a stdio `command` with `args`/`env`, or an HTTP `url` with
`headers`). A file that holds a secret (an API key, a server's env or headers) must be
readable by its owner only (mode 0600), else it is refused. Keys are never logged:
they are left out of every repr.
"""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

from coral_mcp.errors import ConfigError

ProviderName = Literal["builtin", "anthropic", "openai"]
PROVIDERS: tuple[ProviderName, ...] = ("builtin", "anthropic", "openai")
KEY_ENV: dict[str, str] = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
DEFAULT_MODEL: dict[str, str] = {"anthropic": "claude-sonnet-5-5", "openai": "gpt-5.4-mini"}
#: What an OpenAI-compatible local server (Ollama, vLLM, llama.cpp) gets as a key when
#: none is configured: they ignore it, the SDK insists on one.
LOCAL_KEY = "not-needed"


@dataclass(frozen=True, slots=True)
class McpServerSpec:
    """One external MCP server: a stdio command or an HTTP URL."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Tools the operator vouches are read-only although the server does not say so.
    read_only_tools: tuple[str, ...] = ()
    timeout_s: float = 20.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The loop's guards."""

    #: Model calls per question at most.
    max_steps: int = 8
    #: A tool result longer than this (characters) is cut before the model sees it.
    max_tool_output_chars: int = 12_000
    #: Input + output tokens over the whole question at most.
    token_budget: int = 100_000
    #: The same tool with the same arguments is run at most this often.
    max_identical_calls: int = 2
    #: One model call, seconds.
    call_timeout_s: float = 60.0
    #: The whole question, seconds.
    total_timeout_s: float = 180.0
    #: Retries of a model call on 429 or 5xx.
    max_retries: int = 3
    #: First retry delay, seconds; doubles each retry (with jitter).
    backoff_s: float = 1.0


@dataclass(frozen=True, slots=True)
class AskSettings:
    provider: ProviderName = "builtin"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits)
    mcp_servers: tuple[McpServerSpec, ...] = ()
    #: Also query external servers when the best hypothesis is below `auto_query_below`.
    auto_query: bool = False
    auto_query_below: float = 0.5

    @property
    def model_name(self) -> str:
        return self.model or DEFAULT_MODEL.get(self.provider, "builtin")


def default_config_path(env: Mapping[str, str], home: Path) -> Path:
    """$CORAL_CONFIG, else $XDG_CONFIG_HOME/coral/config.toml, else ~/.config/coral/..."""
    if explicit := env.get("CORAL_CONFIG"):
        return Path(explicit)
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    return base / "coral" / "config.toml"


def _read_table(path: Path) -> dict[str, Any]:
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    table = doc.get("ask", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [ask] must be a table")
    return table


def _has_secret(table: dict[str, Any]) -> bool:
    servers = table.get("mcp_servers") or table.get("mcpServers") or {}
    return bool(table.get("api_key")) or any(
        isinstance(s, dict) and (s.get("env") or s.get("headers")) for s in servers.values()
    )


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} holds a secret but others may read it (mode {mode:04o})",
            hint=f"chmod 600 {path}",
        )


def load(
    path: Path,
    env: Mapping[str, str],
    *,
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
) -> AskSettings:
    """Settings from `path` (missing is fine), overridden by the command line; the key
    from the config file, else the provider's usual environment variable."""
    table = _read_table(path)
    if _has_secret(table):
        _check_private(path)
    cfg: dict[str, Any] = {}
    if table:  # pydantic (~0.3 s to import) only when there is a table to check
        from coral_mcp.investigate.ask_config import parse  # noqa: PLC0415

        cfg = parse(path, table).model_dump()
    chosen = provider or cfg.get("provider") or ("builtin" if not cfg.get("api_key") else None)
    if chosen is None:
        raise ConfigError(
            f"{path}: api_key is set but provider is not", hint='add provider = "anthropic"'
        )
    if chosen not in PROVIDERS:
        raise ConfigError(f"unknown provider {chosen!r}", hint=f"use one of {', '.join(PROVIDERS)}")
    key = cfg.get("api_key") or env.get(KEY_ENV.get(chosen, ""), "") or None
    url = base_url or cfg.get("base_url")
    if chosen == "openai" and key is None and url:
        key = LOCAL_KEY
    if chosen != "builtin" and key is None:
        raise ConfigError(
            f"the {chosen} provider needs an API key",
            hint=f"set {KEY_ENV[chosen]}, or api_key in {path} (mode 0600);"
            " or --provider builtin to answer offline",
        )
    servers = tuple(
        McpServerSpec(
            name=name,
            command=s["command"],
            args=tuple(s["args"]),
            env=dict(s["env"]),
            cwd=s["cwd"],
            url=s["url"],
            headers=dict(s["headers"]),
            read_only_tools=tuple(s["read_only_tools"]),
            timeout_s=s["timeout_s"],
        )
        for name, s in cfg.get("mcp_servers", {}).items()
        if not s["disabled"]
    )
    # Limits the table leaves out keep their defaults (declared once, on Limits).
    limits = Limits(**{f.name: cfg[f.name] for f in fields(Limits) if cfg.get(f.name) is not None})
    return AskSettings(
        provider=cast(ProviderName, chosen),
        model=model or cfg.get("model"),
        base_url=url,
        api_key=key,
        limits=limits,
        mcp_servers=servers,
        auto_query=bool(cfg.get("auto_query", False)),
        auto_query_below=float(cfg.get("auto_query_below", 0.5)),
    )


def with_limits(settings: AskSettings, **changes: Any) -> AskSettings:
    return replace(settings, limits=replace(settings.limits, **changes))
