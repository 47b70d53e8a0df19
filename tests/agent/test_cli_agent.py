"""`coral agent status` and `coral agent inspect` through the installed entry point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.agent.apps import start_app
from tests.conftest import Processes, child_env, coral_cmd


def run_coral(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        coral_cmd(*args), check=False, capture_output=True, text=True, timeout=60, env=child_env()
    )


def test_status_lists_the_watched_service_and_the_host(tmp_path: Path, procs: Processes) -> None:
    pid, port = start_app(procs, "web")
    done = run_coral(
        "agent", "status", "--json", "--sample", "0.2",
        "--service", f"web=port:{port}", "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    web = next(s for s in doc["services"] if s["name"] == "web")
    assert web["pids"] == [pid] and web["rss_bytes"] > 1e6
    assert web["listen"] == [f"127.0.0.1:{port}"]
    assert doc["host"]["memory_total_bytes"] > 0
    text = run_coral("agent", "status", "--sample", "0.1", "--service", f"web=port:{port}")
    assert text.returncode == 0 and "web" in text.stdout and "host: cpu" in text.stdout


def test_inspect_shows_processes_sockets_and_health_from_a_config_file(
    tmp_path: Path, procs: Processes
) -> None:
    pid, port = start_app(procs, "web")
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[[service]]\nname = "web"\nmatch = "port:{port}"\n'
        f'[[service.health]]\nkind = "http"\ntarget = "http://127.0.0.1:{port}/health"\n'
    )
    done = run_coral(
        "agent", "inspect", "web", "--json", "--sample", "0.2", "--config", str(config)
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [p["pid"] for p in doc["processes"]] == [pid]
    assert "watched_app.py" in doc["processes"][0]["cmdline"]
    assert doc["health"][0]["healthy"] and doc["health"][0]["status"] == 200
    assert doc["series"]["threads"] >= 2


def test_inspect_of_an_unknown_service_is_one_error_line(tmp_path: Path) -> None:
    done = run_coral("agent", "inspect", "ghost", "--sample", "0", "--no-auto")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "Error: no service named 'ghost'" in done.stderr


def test_a_config_file_with_a_typo_is_one_error_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("colony: 127.0.0.1:9000\nservics: []\n")
    done = run_coral("agent", "status", "--config", str(config))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "unknown key servics" in done.stderr
