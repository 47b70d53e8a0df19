"""The MCP Inspector CLI (npm, pinned; `make test` installs it): an independent MCP client."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.conftest import ROOT, child_env

INSPECTOR = ROOT / ".tools" / "inspector" / "node_modules" / ".bin" / "mcp-inspector"
#: A loaded 2-core machine starts `coral-mcp serve` slower than the Inspector's 15 s default.
CONNECT = ("--connect-timeout", "90000")


def inspector(*args: str) -> dict[str, Any]:
    """Run `mcp-inspector --cli --format json ARGS...`; the `result` of its answer."""
    assert INSPECTOR.exists(), "the MCP Inspector is missing: `make test` installs it"
    done = subprocess.run(
        [str(INSPECTOR), "--cli", "--format", "json", "-q", *CONNECT, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert done.returncode == 0, f"inspector exit {done.returncode}: {done.stderr}{done.stdout}"
    return dict(json.loads(done.stdout))["result"]
