"""Every user mistake: one clear line, a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Processes, child_env, coral_cmd, free_port, wait_for


def run_coral(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        coral_cmd(*args),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *says: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    for text in says:
        assert text in errors[0], done.stderr


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("api", "service spec 'api' is not NAME=SPEC"),
        ("api=socket:80", "unknown kind 'socket'"),
        ("api=port:99999", "port must be 1-65535"),
    ],
)
def test_agent_refuses_a_malformed_service_spec(tmp_path: Path, spec: str, says: str) -> None:
    done = run_coral("agent", "start", "--service", spec, "--data-dir", str(tmp_path))
    assert_one_line_error(done, says)


def test_agent_refuses_a_colony_address_without_port(tmp_path: Path) -> None:
    done = run_coral("agent", "start", "--colony", "localhost", "--data-dir", str(tmp_path))
    assert_one_line_error(done, "colony address 'localhost' is not HOST:PORT", "--colony")


def test_ask_says_it_cannot_reach_the_colony() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run_coral("ask", "what is running?", "--colony", url)
    assert_one_line_error(done, f"cannot reach the colony at {url} (ConnectError)")


def test_colony_refuses_a_port_already_in_use(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run_coral(
            "colony",
            "start",
            "--data-dir",
            str(tmp_path / "c"),
            "--http-port",
            str(port),
            "--grpc-port",
            str(free_port()),
        )
        assert_one_line_error(done, f"HTTP port 127.0.0.1:{port} is already in use", "--http-port")
        done = run_coral(
            "colony",
            "start",
            "--data-dir",
            str(tmp_path / "c"),
            "--grpc-port",
            str(port),
            "--http-port",
            str(free_port()),
        )
        assert_one_line_error(done, f"gRPC port 127.0.0.1:{port} is already in use", "--grpc-port")


def test_colony_refuses_an_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = run_coral(
        "colony",
        "start",
        "--data-dir",
        str(blocker / "colony"),
        "--grpc-port",
        str(free_port()),
        "--http-port",
        str(free_port()),
    )
    assert_one_line_error(done, f"cannot create data directory {blocker / 'colony'}", "--data-dir")


def test_agent_refuses_an_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run_coral("agent", "start", "--data-dir", str(blocker / "agent"))
    assert_one_line_error(done, "cannot create data directory")


def test_second_colony_on_the_same_data_dir_is_refused(tmp_path: Path, procs: Processes) -> None:
    http_port = free_port()
    procs.start(
        "colony",
        coral_cmd(
            "colony",
            "start",
            "--data-dir",
            str(tmp_path / "c"),
            "--grpc-port",
            str(free_port()),
            "--http-port",
            str(http_port),
        ),
    )
    state_file = tmp_path / "c" / "colony.json"
    wait_for(state_file.exists, 30, "first colony")
    done = run_coral(
        "colony",
        "start",
        "--data-dir",
        str(tmp_path / "c"),
        "--grpc-port",
        str(free_port()),
        "--http-port",
        str(free_port()),
    )
    assert_one_line_error(done, "another process is using", "--data-dir")


def test_agent_keeps_retrying_an_unreachable_colony_and_says_so(
    tmp_path: Path, procs: Processes
) -> None:
    port = free_port()
    agent = procs.start(
        "agent",
        coral_cmd(
            "agent",
            "start",
            "--colony",
            f"127.0.0.1:{port}",
            "--interval",
            "0.5",
            "--data-dir",
            str(tmp_path / "agent"),
        ),
    )
    retry_line = f"cannot reach colony at 127.0.0.1:{port}".encode()
    wait_for(lambda: procs.stderr("agent").count(retry_line) >= 3, 30, "three retry log lines")
    assert agent.poll() is None, "the agent must keep running while the colony is away"
    assert b"Traceback" not in procs.stderr("agent")


def test_coral_up_refuses_a_bad_agent_config_before_starting_anything(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[[service]]\nname = "api"\nhelth = []\n')
    done = subprocess.run(
        coral_cmd("up", "--data-dir", str(tmp_path / "d"), "--config", str(config)),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert_one_line_error(done, "unknown key service[0].helth")
    assert not (tmp_path / "d" / "colony").exists()
