"""`coral-mcp serve --colony URL`: an assistant on this machine gets the running colony's
tools, resources and prompts over stdio, errors included, in both protocol generations."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import mcp
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent, TextResourceContents

from tests.intelligence import cases
from tests.investigate.ask_colony import Loaded, loaded_colony

# One worker runs this module: its module fixture is made once.
pytestmark = pytest.mark.xdist_group("stdio-proxy")


@pytest.fixture(scope="module")
def colony(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    tmp = tmp_path_factory.mktemp("serve-proxy")
    with loaded_colony(cases.latency(tmp / "cases"), tmp / "colony") as loaded:
        yield loaded


def serve(colony: Loaded) -> mcp.StdioServerParameters:
    return mcp.StdioServerParameters(
        command=str(Path(sys.executable).parent / "coral-mcp"),
        args=["serve", "--colony", colony.url],
        env={"CORAL_HOME": "/nonexistent"},
    )


def text(result: object) -> str:
    content = getattr(result, "content", [])
    return " ".join(c.text for c in content if isinstance(c, TextContent))


@pytest.mark.parametrize(("mode", "version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_serve_forwards_tools_resources_prompts_and_errors(
    colony: Loaded, mode: str, version: str
) -> None:
    async def scenario() -> None:
        async with mcp.Client(serve(colony), mode=mode) as client:  # type: ignore[arg-type]
            assert client.protocol_version == version
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert {"investigate", "list_services", "get_events"} <= set(tools)
            assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())
            found = await client.call_tool("investigate", {"start": colony.since})
            assert not found.is_error
            assert json.loads(text(found))["hypotheses"][0]["service"] == "db"
            unknown = await client.call_tool("get_service", {"name": "dbb"})
            assert unknown.is_error and "unknown service 'dbb'" in text(unknown)
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            assert "coral://topology" in uris
            templates = (await client.list_resource_templates()).resource_templates
            assert "coral://services/{name}" in {t.uri_template for t in templates}
            read = (await client.read_resource("coral://services/db")).contents[0]
            assert isinstance(read, TextResourceContents) and '"name":"db"' in read.text
            with pytest.raises(MCPError, match="coral://nope"):
                await client.read_resource("coral://nope")
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert "investigate_incident" in prompts
            prompt = await client.get_prompt("investigate_incident", {})
            assert prompt.messages

    anyio.run(scenario)
