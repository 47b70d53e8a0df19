"""Fixtures of the mesh tests: namespaces with processes in them, torn down in order."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Processes, coral_cmd
from tests.mesh.netns import Net, skip_reason


class Lab:
    """Namespaces plus the Coral processes started in them."""

    def __init__(self, net: Net, procs: Processes, root: Path) -> None:
        self.net = net
        self.procs = procs
        self.root = root
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def coral(self, where: str, *args: str) -> str:
        return self.net.exec(where, *coral_cmd(*args))

    def start(self, name: str, where: str, *args: str) -> subprocess.Popen[bytes]:
        proc = self.procs.start(name, self.net.cmd(where, *coral_cmd(*args)))
        self.running[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.running.pop(name)
        proc.terminate()
        proc.wait(timeout=15)

    def json(self, where: str, *args: str) -> Any:
        return json.loads(self.coral(where, *args))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    net = Net()
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(logs)
    try:
        yield Lab(net, procs, tmp_path)
    finally:
        procs.stop_all()
        net.close()
