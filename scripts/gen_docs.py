"""Generate docs/cli.md (every command's help) and docs/mcp.md (tools and resources).

Usage: python scripts/gen_docs.py [OUT_DIR]     (default: the repository's docs/)

Also docs/api.md (the REST API). The pages are generated from the code, so they
cannot drift: a test regenerates them and fails when the committed pages differ.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from fastmcp import Client

from coral_mcp.cli.main import coral
from coral_mcp.cli.mcp_main import coral_mcp
from coral_mcp.colony.ask_routes import openapi_paths as ask_paths
from coral_mcp.colony.http_app import api_routes
from coral_mcp.server import build_server
from coral_mcp.tools.asks import AskRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_colony import SampleData

ROOT = Path(__file__).resolve().parent.parent


def _command_help(name: str, command: click.Command, parent: click.Context | None) -> list[str]:
    ctx = click.Context(command, info_name=name, parent=parent, terminal_width=88)
    lines = [f"## `{ctx.command_path}`", "", "```text", command.get_help(ctx).rstrip(), "```", ""]
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                lines += _command_help(sub_name, sub, ctx)
    return lines


def cli_page() -> str:
    lines = [
        "# Command-line reference",
        "",
        "Generated from the code by `scripts/gen_docs.py`; do not edit by hand.",
        "",
    ]
    lines += _command_help("coral", coral, None)
    lines += _command_help("coral-mcp", coral_mcp, None)
    return "\n".join(lines).rstrip() + "\n"


def _schema_rows(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| argument | type | required | description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        kinds = [o.get("type", "?") for o in prop.get("anyOf", [prop])]
        shown = prop.get("default") is not None
        default = f" Default: `{json.dumps(prop['default'])}`." if shown else ""
        description = (prop.get("description", "") + default).strip()
        rows.append(
            f"| `{name}` | {' or '.join(kinds)} | {'yes' if name in required else 'no'}"
            f" | {description} |"
        )
    return rows if len(rows) > 2 else ["No arguments."]


#: Arguments of the example call shown for each tool, against the sample colony.
EXAMPLES: dict[str, dict[str, Any]] = {
    "list_services": {"limit": 2},
    "get_service": {"name": "api"},
    "list_metrics": {"service": "api"},
    "query_metrics": {"service": "api", "metric": "rss_bytes", "start": "3m", "step_s": 60},
    "get_events": {"service": "api", "start": "1h"},
    "get_topology": {"service": "api", "depth": 1},
    "query_agent": {"service": "api", "kind": "connections"},
    "colony_status": {},
    "investigate": {"question": "why is the site slow?", "start": "30m"},
    "find_anomalies": {"start": "1h"},
    "get_baselines": {"service": "api"},
    "get_correlations": {"limit": 5},
}
EXAMPLE_LINES = 40


def _example(payload: Any) -> list[str]:
    text = json.dumps(payload, indent=2).splitlines()
    if len(text) > EXAMPLE_LINES:
        text = [*text[:EXAMPLE_LINES], f"... ({len(text) - EXAMPLE_LINES} more lines)"]
    return ["```json", *text, "```", ""]


async def _mcp_page() -> str:
    server = build_server(SampleData())
    async with Client(server) as client:
        tools = await client.list_tools()
        resources = await client.list_resources()
        templates = await client.list_resource_templates()
        prompts = await client.list_prompts()
        results = {
            name: (await client.call_tool(name, args)).structured_content
            for name, args in EXAMPLES.items()
        }
        missing = {t.name for t in tools} - set(EXAMPLES)
        if missing:
            raise SystemExit(f"no documentation example for tools: {sorted(missing)}")
        topology = await client.read_resource("coral://topology")
    lines = [
        "# MCP reference",
        "",
        "Generated from the server by `scripts/gen_docs.py`; do not edit by hand.",
        "",
        "The colony serves MCP over streamable HTTP at `http://127.0.0.1:9010/mcp`;"
        " `coral-mcp serve` serves the same over stdio.",
        "",
        "## Tools",
        "",
    ]
    for tool in sorted(tools, key=lambda t: t.name):
        hints = tool.annotations
        read_only = bool(hints and hints.read_only_hint)
        lines += [f"### `{tool.name}`", "", (tool.description or "").strip(), ""]
        lines += [f"Read-only: {'yes' if read_only else 'no'}.", ""]
        lines += [*_schema_rows(tool.input_schema), ""]
        if tool.output_schema:
            fields = ", ".join(f"`{f}`" for f in tool.output_schema.get("properties", {}))
            lines += [f"Result fields: {fields}.", ""]
        args = json.dumps(EXAMPLES[tool.name])
        lines += [f"Example: `{tool.name}` with `{args}` on a small sample colony:", ""]
        lines += _example(results[tool.name])
    lines += ["## Resources", ""]
    for resource in sorted(resources, key=lambda r: str(r.uri)):
        lines += [
            f"### `{resource.uri}`",
            "",
            (resource.description or "").strip(),
            "",
            f"MIME type: `{resource.mime_type}`.",
            "",
        ]
    for template in sorted(templates, key=lambda t: t.uri_template):
        lines += [f"### `{template.uri_template}`", "", (template.description or "").strip(), ""]
    lines += [
        "Every resource is a JSON document with the same schema as the matching tool's"
        " result; for example `coral://topology`:",
        "",
        *_example(json.loads(topology[0].text)),  # type: ignore[union-attr]
        "## Prompts",
        "",
    ]
    for prompt in sorted(prompts, key=lambda p: p.name):
        arguments = ", ".join(f"`{a.name}`" for a in prompt.arguments or []) or "none"
        lines += [
            f"### `{prompt.name}`",
            "",
            (prompt.description or "").strip(),
            "",
            f"Arguments (all optional): {arguments}.",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def mcp_page() -> str:
    return asyncio.run(_mcp_page())


def api_page() -> str:
    routes = api_routes()
    lines = [
        "# REST API reference",
        "",
        "Generated from the route table by `scripts/gen_docs.py`; do not edit by hand.",
        "",
        "The colony serves this API on its HTTP port (default `http://127.0.0.1:9010`),"
        " beside MCP at `/mcp`. Every answer is JSON; a bad request gets status 400 and"
        ' `{"error": ..., "hint": ...}`; unknown query parameters are refused. The'
        " OpenAPI 3.1 document is at `/api/v1/openapi.json`; `/healthz` answers"
        ' `{"status": "ok"}`.',
        "",
    ]
    for route in routes:
        lines += [f"## `GET {route.path}`", "", route.summary + ".", ""]
        if route.params:
            lines += ["| parameter | type | required | description |", "|---|---|---|---|"]
            lines += [
                f"| `{p.name}` | {p.kind} | {'yes' if p.required else 'no'} | {p.description}"
                + ("" if p.default is None else f" Default: `{p.default}`.")
                + " |"
                for p in route.params
            ]
            lines.append("")
        fields = ", ".join(f"`{f}`" for f in route.result.model_fields)
        lines += [f"Result (`{route.result.__name__}`): {fields}.", ""]
    for path, methods in ask_paths().items():
        for method, op in methods.items():
            lines += [f"## `{method.upper()} {path}`", "", op["summary"] + ".", ""]
    fields = ", ".join(f"`{f}`" for f in AskRecord.model_fields)
    lines += [f"Conversation record (`AskRecord`): {fields}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cli.md").write_text(cli_page())
    (out / "mcp.md").write_text(mcp_page())
    (out / "api.md").write_text(api_page())


if __name__ == "__main__":
    main()
