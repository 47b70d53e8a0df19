"""The `[ask]` table of Coral's config file, checked field by field (a trust boundary:
unknown fields are refused). Imported only when a config file has such a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coral_mcp.errors import ConfigError

ProviderName = Literal["builtin", "anthropic", "openai"]


class ServerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    type: Literal["stdio", "http", "streamable-http", "sse"] | None = None
    disabled: bool = False
    read_only_tools: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=20.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_transport(self) -> ServerIn:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (HTTP)")
        return self


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    provider: ProviderName | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    auto_query: bool = False
    auto_query_below: float = Field(default=0.5, ge=0, le=1)
    max_steps: int | None = Field(default=None, ge=1, le=50)
    max_tool_output_chars: int | None = Field(default=None, ge=500, le=1_000_000)
    token_budget: int | None = Field(default=None, ge=1_000)
    max_identical_calls: int | None = Field(default=None, ge=1, le=10)
    call_timeout_s: float | None = Field(default=None, gt=0, le=600)
    total_timeout_s: float | None = Field(default=None, gt=0, le=3600)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    backoff_s: float | None = Field(default=None, ge=0, le=60)
    mcp_servers: dict[str, ServerIn] = Field(default_factory=dict, alias="mcpServers")


def parse(path: Path, table: dict[str, Any]) -> AskIn:
    try:
        return AskIn.model_validate(table)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: [ask] {where}: {err['msg']}") from None
