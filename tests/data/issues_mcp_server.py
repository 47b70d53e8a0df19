"""A small external MCP server over stdio, like an error tracker's: for `coral ask` tests.

    python issues_mcp_server.py

`search_issues` is annotated read-only; `resolve_issue` changes state and is not, so
Coral must never offer it to a model. Each call is appended to $ISSUES_CALL_LOG, with the names of any *_API_KEY
variables the server can see (it should see none).
"""

import json
import os

from fastmcp import FastMCP
from mcp_types import ToolAnnotations

server = FastMCP("issues")
ISSUES = [
    {"id": "DB-17", "service": "db", "title": "timeout acquiring connection", "events": 412},
    {"id": "API-3", "service": "api", "title": "upstream db timed out", "events": 96},
]


def _log(tool: str, args: dict[str, object]) -> None:
    path = os.environ.get("ISSUES_CALL_LOG")
    if path:
        with open(path, "a") as f:
            keys = sorted(k for k in os.environ if k.endswith("_API_KEY"))
            f.write(json.dumps({"tool": tool, "args": args, "keys_seen": keys}) + "\n")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def search_issues(query: str) -> list[dict[str, object]]:
    """Open error-tracker issues whose service or title contains the query."""
    _log("search_issues", {"query": query})
    return [i for i in ISSUES if query in i["service"] or query in str(i["title"])]


@server.tool
def resolve_issue(issue_id: str) -> str:
    """Mark an issue resolved."""
    _log("resolve_issue", {"issue_id": issue_id})
    return f"{issue_id} resolved"


if __name__ == "__main__":
    server.run(transport="stdio", show_banner=False)
