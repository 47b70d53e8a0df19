"""What a new user meets in the first hour, through the installed `coral` and `coral-mcp`.

One meaning of --data-dir, no guessed colony, 401 said as 401 with the fix, a quiet
Ctrl-C, a second `coral up` that says Coral is already running, flags checked before
anything travels.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    Processes,
    as_a_terminal_job,
    child_env,
    coral_cmd,
    free_port,
    wait_for,
)

# One worker runs this module: its module fixture (a running `coral up`) is made once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("first-hour")]


def run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=timeout, env=child_env()
    )


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one `Error: ...` line of a failed command (and no traceback)."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def coral_mcp_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "coral-mcp"), *args]


@dataclass(frozen=True)
class Up:
    """A running `coral up` with its data directory."""

    data_dir: Path
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_up(procs: Processes, data_dir: Path, name: str, *extra: str) -> Up:
    proc = procs.start(
        name,
        coral_cmd(
            "up", "--data-dir", str(data_dir),
            "--grpc-port", str(free_port()), "--http-port", str(free_port()), *extra,
        ),
    )  # fmt: skip
    state = data_dir / "colony" / "colony.json"
    wait_for(lambda: state.exists() or proc.poll() is not None, 60, "coral up ready")
    assert proc.poll() is None, procs.stderr(name).decode()
    return Up(data_dir, proc, json.loads(state.read_text())["http"])


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    tmp = tmp_path_factory.mktemp("up")
    (tmp / "logs").mkdir()
    procs = Processes(tmp / "logs")
    try:
        yield start_up(procs, tmp / "coral", "up")
    finally:
        procs.stop_all()


def test_ask_and_status_find_the_colony_started_with_the_same_data_dir(up: Up) -> None:
    asked = run(coral_cmd("ask", "what is running?", "--data-dir", str(up.data_dir)))
    assert asked.returncode == 0, asked.stderr
    status = run(coral_cmd("colony", "status", "--json", "--data-dir", str(up.data_dir)))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["agents"]


def test_colony_start_and_ask_agree_on_what_data_dir_means(
    tmp_path: Path, procs: Processes
) -> None:
    colony = procs.colony(tmp_path / "coral")
    assert (tmp_path / "coral" / "colony" / "mcp.token").exists()
    asked = run(coral_cmd("ask", "show me the topology", "--data-dir", str(tmp_path / "coral")))
    assert asked.returncode == 0, asked.stderr
    token = run(coral_cmd("colony", "token", "show", "--mcp", "--data-dir", str(colony.data_dir)))
    assert token.stdout.strip() == colony.token


def test_without_a_colony_on_the_data_dir_ask_says_so_and_guesses_no_other(
    tmp_path: Path,
) -> None:
    for command in (
        coral_cmd("ask", "what is running?", "--data-dir", str(tmp_path)),
        coral_cmd("colony", "status", "--data-dir", str(tmp_path)),
    ):
        line = error_line(run(command))
        assert f"no colony is running on data dir {tmp_path}" in line
        assert "9010" not in line
        assert "--colony" in line


def test_a_wrong_token_is_said_as_401_with_the_way_to_fix_it(up: Up) -> None:
    for command in (
        coral_cmd("ask", "what is running?", "--colony", up.url, "--token", "wrong"),
        coral_cmd("colony", "status", "--colony", up.url, "--token", "wrong"),
    ):
        line = error_line(run(command))
        assert f"the colony at {up.url} (given by --colony) answered 401 Unauthorized" in line
        assert "the token from --token" in line
        assert "--token" in line and "coral colony token show --mcp" in line


def test_a_second_coral_up_says_coral_is_already_running(up: Up) -> None:
    done = run(coral_cmd("up", "--data-dir", str(up.data_dir), "--http-port", str(free_port())))
    assert f"Coral is already running (pid {up.pid}, data dir {up.data_dir})" in error_line(done)


def test_coral_mcp_serve_checks_its_colony_at_start(up: Up) -> None:
    cases = {
        "not-a-url": "cannot reach the colony at http://not-a-url (given by --colony)",
        "ftp://colony": "--colony 'ftp://colony' is not a colony URL",
        f"http://127.0.0.1:{free_port()}": "cannot reach the colony at",
    }
    for url, says in cases.items():
        done = run(coral_mcp_cmd("serve", "--colony", url), timeout=30)
        assert done.stdout == ""  # stdout is the protocol: nothing there
        assert says in error_line(done)
    refused = run(coral_mcp_cmd("serve", "--colony", up.url, "--token", "wrong"), timeout=30)
    assert "answered 401 Unauthorized" in error_line(refused)


def test_coral_mcp_serve_help_names_what_it_does_without_a_colony() -> None:
    done = run(coral_mcp_cmd("serve", "--help"))
    assert "when none runs there, an embedded colony and an agent" in " ".join(done.stdout.split())
    assert "9010" not in done.stdout


def test_since_is_checked_by_the_cli_before_anything_is_asked() -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    for since in ("banana", "2999-01-01T00:00:00Z"):
        done = run(coral_cmd("ask", "what happened?", "--since", since, "--colony", unreachable))
        assert done.returncode == 2, done.stderr
        assert f"cannot read {since!r} as a time in the past" in done.stderr
        assert "--since 30m" in done.stderr
        assert "start=" not in done.stderr and "cannot reach" not in done.stderr


def test_since_on_a_question_it_does_not_apply_to_says_so(up: Up) -> None:
    done = run(
        coral_cmd("ask", "what is running?", "--since", "2h", "--data-dir", str(up.data_dir))
    )
    assert done.returncode == 0, done.stderr
    assert "note: --since applies to what happened, what changed" in done.stderr


def _sigint_caught(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def _interrupted_while_importing(data_dir: Path) -> tuple[int, bytes] | None:
    """Start `coral up` and send SIGINT while it imports its commands; its exit status
    and stderr, or None when that moment was missed (it got to its own handling first:
    this process, on a loaded machine, may not look again for a while)."""
    proc = subprocess.Popen(
        coral_cmd("up", "--data-dir", str(data_dir), "--grpc-port", "0", "--http-port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        preexec_fn=as_a_terminal_job,  # noqa: PLW1509 - the signals a shell's job starts with
    )
    try:
        # Python installs its KeyboardInterrupt handler at start-up; the entry point hands
        # SIGINT back to the default action before importing the commands: send it then.
        seen_python_handler = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            caught = _sigint_caught(proc.pid)
            if caught:
                seen_python_handler = True
                if (data_dir / "colony").exists():  # started: its daemon's handler
                    return None
            elif seen_python_handler:
                break
        else:
            return None
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        return proc.returncode, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps it and closes its pipes


def test_ctrl_c_while_coral_up_starts_ends_it_without_a_traceback(tmp_path: Path) -> None:
    """Interrupted while it imports its commands (the first ~0.3 s), as a user's Ctrl-C."""
    for attempt in range(5):
        outcome = _interrupted_while_importing(tmp_path / str(attempt))
        if outcome is not None:
            break
    else:
        pytest.fail("coral up never left SIGINT to its default action while starting (5 tries)")
    returncode, stderr = outcome
    assert returncode in (-signal.SIGINT, 130)
    assert b"Traceback" not in stderr and b"KeyboardInterrupt" not in stderr


def test_a_normal_restart_of_coral_up_loses_no_message(tmp_path: Path, procs: Processes) -> None:
    data_dir = tmp_path / "coral"
    fast = ("--interval", "0.3", "--push", "0.5")
    for name in ("first", "second"):
        up = start_up(procs, data_dir, name, *fast)

        def committed(up: Up = up) -> int:
            done = run(coral_cmd("colony", "status", "--json", "--data-dir", str(up.data_dir)))
            agents = json.loads(done.stdout)["agents"] if done.returncode == 0 else []
            return max((a["committed_seq"] for a in agents), default=0)

        wait_for(lambda: committed() >= 4, 60, f"{name}: messages committed")
        up.proc.send_signal(signal.SIGINT)
        assert up.proc.wait(timeout=30) == 0
    assert b"messages were lost" not in procs.stderr("second")
    assert b"Traceback" not in procs.stderr("first") + procs.stderr("second")
