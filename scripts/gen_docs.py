"""Generate docs/cli.md (every command's help) and docs/mcp.md (tools and resources).

Usage: python scripts/gen_docs.py [OUT_DIR]     (default: the repository's docs/)

Also docs/api.md (the REST API), and the list of tools, resources, templates and
prompts in README.md (between its `generated: mcp-surface` markers; with OUT_DIR, a
copy of README.md goes there). The pages are generated from the code, so they cannot
drift: a test regenerates them and fails when the committed pages differ.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
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
from coral_mcp.tools.catalog import TOOLS, signature

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
        "`--data-dir` means one thing wherever it appears: Coral's data directory"
        " (default `$CORAL_HOME`, else `~/.local/share/coral`). The colony keeps its files in"
        " `DIR/colony`, the agent in `DIR/agent`; `coral ask`, `coral colony status` and"
        " `coral-mcp serve` find the colony running on the same `--data-dir` (or take"
        " `--colony URL`) and never guess another one.",
        "",
        "## Shell completion",
        "",
        "Both commands complete their subcommands and options (click's completion). Add to"
        " your shell's start-up file:",
        "",
        "```sh",
        'eval "$(_CORAL_COMPLETE=bash_source coral)"          # ~/.bashrc',
        'eval "$(_CORAL_MCP_COMPLETE=bash_source coral-mcp)"',
        'eval "$(_CORAL_COMPLETE=zsh_source coral)"           # ~/.zshrc',
        "_CORAL_COMPLETE=fish_source coral | source           # ~/.config/fish/config.fish",
        "```",
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


#: Each tool's result model (what REST returns too), by tool name.
RESULT_MODELS = {tool.__name__: signature(tool).return_annotation for tool in TOOLS}

RESULTS_SECTION = [
    "## How results travel",
    "",
    "Each tool result is sent once, as compact JSON in one text block; tools declare no"
    " output schema and send no `structuredContent`. Why: Claude Desktop, Claude Code and"
    " the other MCP hosts put a result's text content in front of the model, and some"
    " show nothing when a result has only structured content; the Python and TypeScript"
    " SDKs hand a client both fields, with the text always present. Sending the JSON"
    " twice (text plus structured copy) doubled every result on the wire, and the output"
    " schemas were two thirds of `tools/list` (20 of 32 KB). Clients that want typed"
    " data parse the text (`coral ask` does); the field lists below, `docs/api.md` and"
    " the REST API's OpenAPI document describe the same models.",
    "",
    "Results are summaries first and stay small by default (a test holds `tools/list`"
    " under 12 KB and each typical result under 4 KB on a 10-service colony): lists are"
    " pages (`limit`, `cursor`, `truncated`, `next_cursor`), and the tools whose full"
    " answer is large take `detail=true`. Values that are absent are left out rather than"
    " sent as null. Every time is RFC 3339 UTC with a `Z` (`2026-11-24T10:00:00Z`).",
    "",
]


def _example(payload: Any) -> list[str]:
    text = json.dumps(payload, indent=2).splitlines()
    if len(text) > EXAMPLE_LINES:
        text = [*text[:EXAMPLE_LINES], f"... ({len(text) - EXAMPLE_LINES} more lines)"]
    return ["```json", *text, "```", ""]


README_BEGIN = "<!-- BEGIN generated: mcp-surface (scripts/gen_docs.py) -->"
README_END = "<!-- END generated: mcp-surface -->"


def _names(items: list[str]) -> str:
    quoted = [f"`{item}`" for item in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def surface_text(
    tools: list[Any], resources: list[Any], templates: list[Any], prompts: list[Any]
) -> str:
    """The README's sentence on what the MCP server offers, from the server itself."""
    read_only = all(t.annotations and t.annotations.read_only_hint for t in tools)
    sentence = (
        f"{len(tools)} {'read-only ' if read_only else ''}tools"
        f" {_names(sorted(t.name for t in tools))};"
        f" {len(resources)} resources {_names(sorted(str(r.uri) for r in resources))};"
        f" {len(templates)} resource templates"
        f" {_names(sorted(t.uri_template for t in templates))};"
        f" {len(prompts)} prompts {_names(sorted(p.name for p in prompts))} — every one with"
        " its arguments and an example result in [docs/mcp.md](docs/mcp.md)."
    )
    return textwrap.fill(
        sentence, width=90, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False
    )


def readme_with_surface(readme: str, surface: str) -> str:
    """README.md with the text between its markers replaced by `surface`."""
    head, rest = readme.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_BEGIN}\n{surface}\n  {README_END}{tail}"


async def _mcp_page() -> tuple[str, str]:
    server = build_server(SampleData())
    async with Client(server) as client:
        tools = await client.list_tools()
        resources = await client.list_resources()
        templates = await client.list_resource_templates()
        prompts = await client.list_prompts()
        results = {
            name: json.loads((await client.call_tool(name, args)).content[0].text)  # type: ignore[union-attr]
            for name, args in EXAMPLES.items()
        }
        missing = {t.name for t in tools} - set(EXAMPLES)
        if missing:
            raise SystemExit(f"no documentation example for tools: {sorted(missing)}")
        topology = await client.read_resource("coral://topology")
    surface = surface_text(tools, resources, templates, prompts)
    lines = [
        "# MCP reference",
        "",
        "Generated from the server by `scripts/gen_docs.py`; do not edit by hand.",
        "",
        "The colony serves MCP over streamable HTTP at `http://127.0.0.1:9010/mcp`;"
        " `coral-mcp serve` serves the same over stdio.",
        "",
        *RESULTS_SECTION,
        "## Tools",
        "",
    ]
    for tool in sorted(tools, key=lambda t: t.name):
        hints = tool.annotations
        read_only = bool(hints and hints.read_only_hint)
        lines += [f"### `{tool.name}`", "", (tool.description or "").strip(), ""]
        lines += [f"Read-only: {'yes' if read_only else 'no'}.", ""]
        lines += [*_schema_rows(tool.input_schema), ""]
        fields = ", ".join(f"`{f}`" for f in RESULT_MODELS[tool.name].model_fields)
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
    return "\n".join(lines).rstrip() + "\n", surface


def mcp_page() -> tuple[str, str]:
    """docs/mcp.md, and the README's sentence on the MCP surface."""
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
    page, surface = mcp_page()
    (out / "mcp.md").write_text(page)
    (out / "api.md").write_text(api_page())
    readme = readme_with_surface((ROOT / "README.md").read_text(), surface)
    into_repo = out.resolve() == (ROOT / "docs").resolve()
    (ROOT / "README.md" if into_repo else out / "README.md").write_text(readme)


if __name__ == "__main__":
    main()
