"""The lean agent process gets exactly the settings `coral agent start` validated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from coral_mcp.agent.launch import decode_launch, encode_launch, needs_tls
from coral_mcp.config import AgentSettings
from coral_mcp.models import parse_service_spec
from coral_mcp.models.checks import CheckKind, HealthCheckSpec, ScrapeSpec


def _settings(tmp_path: Path, url: str) -> AgentSettings:
    return AgentSettings(
        data_dir=tmp_path,
        colony="10.0.0.1:9000",
        services=(parse_service_spec("api=port:8080"), parse_service_spec("db=name:^postgres")),
        interval_s=2.5,
        health_checks=(HealthCheckSpec("api", CheckKind.GRPC, "127.0.0.1:8080", grpc_service="x"),),
        scrapes=(ScrapeSpec("api", url, max_series=50),),
        discovery="disc:9020",
        colony_token_file=tmp_path / "colony" / "mcp.token",
    )


def test_settings_survive_the_hand_over_to_the_lean_process_unchanged(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "http://127.0.0.1:8080/metrics")
    decoded, level = decode_launch(encode_launch(settings, "DEBUG"))
    assert decoded == settings and level == "DEBUG"
    assert not needs_tls(decoded)


def test_an_https_scrape_keeps_tls_in_the_lean_process(tmp_path: Path) -> None:
    assert needs_tls(_settings(tmp_path, "https://api.example/metrics"))


def test_the_lean_entry_point_alone_says_how_to_start_an_agent() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coral_mcp.agent", "agent", "start"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: the lean agent process takes its settings from `coral agent start`"
        " (run `coral agent start ...`)"
    ]
