"""The SDK goes into applications: importing and starting it loads the standard library
and nothing of Coral's own dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, sys
from coral_mcp import sdk
from coral_mcp.sdk import asgi, wsgi
handle = sdk.init(service="probe", version="1", components={"ok": lambda: True})
doc = sdk.info()
sdk.shutdown()
print(json.dumps({"modules": sorted(sys.modules), "doc": doc}))
"""


def test_importing_and_starting_the_sdk_loads_only_the_standard_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True, text=True, check=False, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # (an editable install adds its own import finder to every interpreter)
    loaded = {m.split(".")[0] for m in result["modules"] if not m.startswith("__editable__")}
    foreign = loaded - set(sys.stdlib_module_names) - {"coral_mcp", "__main__", "_distutils_hack"}
    assert foreign == set(), f"the SDK pulled in {sorted(foreign)}"
    ours = {m for m in result["modules"] if m.startswith("coral_mcp.")}
    assert ours and all(m.startswith("coral_mcp.sdk") for m in ours), sorted(ours)
    assert result["doc"]["components"]["ok"]["healthy"] is True
