"""The MCP Inspector (npm, pinned; `make test` installs it): an independent MCP client.

Two of its command lines: `mcp-inspector --cli` makes one connection per run (for stdio
it starts the server, asks one thing, and ends it), as an assistant's first contact
does; `mcpdo`, the same package's connection CLI, connects once through a small daemon
and then asks many things over that one connection (`Connection`). Many calls against
one server go through `Connection`: a one-shot run over stdio costs ~1.4 s of CPU (node
and a fresh `coral-mcp serve`), a call on a held connection ~0.4 s (node alone).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, child_env

BIN = ROOT / ".tools" / "inspector" / "node_modules" / ".bin"
INSPECTOR = BIN / "mcp-inspector"
MCPDO = BIN / "mcpdo"
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


class Connection:
    """Named MCP connections held open by the Inspector's `mcpdo` daemon (one server
    process per stdio connection, for every call), until `close`.

    `servers` is an `mcpServers` map as MCP clients write it (name -> {"command", "args",
    "env"} or {"type": "streamable-http", "url", "headers"}). The daemon, its socket and
    the secrets it keeps (stdio env values, headers) live under `home`, apart from any
    other Inspector on the machine.
    """

    def __init__(self, home: Path, servers: dict[str, dict[str, Any]]) -> None:
        assert MCPDO.exists(), "the MCP Inspector is missing: `make test` installs it"
        home.mkdir(parents=True, exist_ok=True)
        self._config = home / "mcp.json"
        self._config.write_text(json.dumps({"mcpServers": servers}))
        self._env = {
            **child_env(),
            "HOME": str(home),
            "MCP_INSPECTOR_DAEMON_DIR": str(home / "daemon"),
            "MCP_INSPECTOR_SECRET_STORE": "file",  # no OS keychain in a test
        }
        try:
            for name in servers:
                self._run("--config", str(self._config), "connect", name, *CONNECT)
        except BaseException:
            self.close()
            raise

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [str(MCPDO), "--format", "json", "--stored-auth-only", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env=self._env,
        )
        assert done.returncode == 0, (
            f"mcpdo {args} exit {done.returncode}: {done.stderr}{done.stdout}"
        )
        return done.stdout

    def call(self, name: str, method: str, *options: str) -> dict[str, Any]:
        """`method` (tools/call, resources/read, ...) with the Inspector CLI's `options`
        (--tool-name, --tool-args-json, --uri, --prompt-name, --prompt-args) on connection
        `name`: the result, as `inspector` gives it."""
        return dict(json.loads(self._run("--connection", name, method, *options)))

    def close(self) -> None:
        """Stop the daemon, which ends its connections (and their server processes)."""
        subprocess.run(
            [str(MCPDO), "daemon", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
            env=self._env,
        )
