"""`coral up --config FILE`: the embedded agent takes the agent's config file."""

from __future__ import annotations

from pathlib import Path

import httpx2

from tests.agent.apps import start_app
from tests.conftest import Processes, auth, colony_token, coral_cmd, free_port, wait_for


def test_coral_up_takes_the_agent_config_with_its_health_checks(
    tmp_path: Path, procs: Processes
) -> None:
    _, port = start_app(procs, "web")
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[[service]]\nname = "web"\nmatch = "port:{port}"\nauto_probe = false\n'
        f'  [[service.health]]\n  kind = "http"\n'
        f'  target = "http://127.0.0.1:{port}/health"\n  interval_s = 1\n'
    )
    http_port = free_port()
    procs.start(
        "up",
        coral_cmd(
            "up", "--data-dir", str(tmp_path / "d"), "--config", str(config),
            "--grpc-port", str(free_port()), "--http-port", str(http_port),
            "--interval", "0.5", "--push", "1",
        ),
    )  # fmt: skip
    token = colony_token(tmp_path / "d" / "colony")

    def health_points() -> list[object]:
        try:
            response = httpx2.get(
                f"http://127.0.0.1:{http_port}/api/v1/metrics",
                params={"service": "web", "metric": "health_up", "start": "now-10m"},
                headers=auth(token),
                timeout=5,
            )
        except httpx2.HTTPError:
            return []
        return list(response.json().get("points", [])) if response.status_code == 200 else []

    points = wait_for(health_points, 60, "the configured health check's series in the colony")
    assert points[-1]["last"] == 1.0  # type: ignore[index]
