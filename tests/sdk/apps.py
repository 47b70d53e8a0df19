"""Web apps built around the two lines docs/sdk.md gives, read from the docs themselves
(so the documentation cannot drift from what works)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, Processes, free_port

BIN = Path(sys.executable).parent


def documented_lines(framework: str) -> str:
    """The import and the call docs/sdk.md shows for `framework` ("FastAPI", "Flask")."""
    text = (ROOT / "docs" / "sdk.md").read_text()
    block = text.split("## Web apps in two lines", 1)[1].split("```python", 1)[1]
    block = block.split("```", 1)[0]
    part = re.search(rf"^# {framework}\b.*?\n(.*?)(?=^# |\Z)", block, re.S | re.M)
    assert part, f"docs/sdk.md shows no {framework} lines"
    lines = [line for line in part.group(1).splitlines() if line.strip()]
    assert len(lines) == 2, lines  # two lines, as the docs promise
    return "\n".join(lines)


FASTAPI_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def hello() -> str:
    return "hello"


async def ping_db() -> bool:
    return True


{lines}
"""

FLASK_APP = """
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "hello"


def ping_db() -> tuple[bool, str]:
    return True, f"checked by {{os.getpid()}}"


{lines}
"""


def write_app(directory: Path, framework: str) -> Path:
    """`directory/shop.py`: a FastAPI or Flask app (`shop:app`) with the documented lines."""
    template = FASTAPI_APP if framework == "FastAPI" else FLASK_APP
    path = directory / "shop.py"
    path.write_text(template.format(lines=documented_lines(framework)))
    return path


def serve(procs: Processes, directory: Path, framework: str) -> tuple[subprocess.Popen[bytes], int]:
    """The documented app of `framework` on a free port: FastAPI under uvicorn, Flask
    under gunicorn with two forked workers (`--preload`: the SDK starts in the master).
    Returns the server's process (the master) and its port."""
    write_app(directory, framework)
    port = free_port()
    if framework == "FastAPI":
        cmd = [str(BIN / "uvicorn"), "--app-dir", str(directory), "--port", str(port)]
    else:
        cmd = [str(BIN / "gunicorn"), "--chdir", str(directory), "--preload", "--workers", "2",
               "--bind", f"127.0.0.1:{port}"]  # fmt: skip
    return procs.start(framework.lower(), [*cmd, "shop:app"]), port
