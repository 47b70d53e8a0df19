"""The suite runs in a home of its own: nothing a test starts writes into the real HOME."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ISOLATED_ENV, REAL_HOME, child_env, coral_cmd

# Where Coral writes by default, relative to a home directory.
CORAL_PLACES = (".local/share/coral", ".config/coral", ".cache/coral", ".config/Claude")


def snapshot(home: Path) -> dict[str, int]:
    """Every file under Coral's default places in `home`, with its modification time."""
    found: dict[str, int] = {}
    for place in CORAL_PLACES:
        root = home / place
        if root.exists():
            found[place] = root.stat().st_mtime_ns
            for path in root.rglob("*"):
                found[str(path.relative_to(home))] = path.lstat().st_mtime_ns
    return found


def test_every_test_gets_a_home_of_its_own(isolated_home: Path) -> None:
    assert Path(os.environ["HOME"]) == isolated_home != REAL_HOME
    for name in ISOLATED_ENV:
        assert Path(os.environ[name]).is_relative_to(isolated_home), name
    assert child_env()["HOME"] == str(isolated_home)


def test_a_command_writing_to_the_default_data_dir_leaves_the_real_home_untouched(
    isolated_home: Path,
) -> None:
    before = snapshot(REAL_HOME)
    done = subprocess.run(
        coral_cmd("colony", "init"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = isolated_home / ".local/share/coral/colony"
    assert str(written) in done.stdout
    assert any(written.iterdir())
    assert snapshot(REAL_HOME) == before


@pytest.fixture(scope="module")
def home_seen_by_a_module_fixture() -> str:
    return os.environ["HOME"]


def test_fixtures_wider_than_a_test_get_a_home_of_their_own_too(
    home_seen_by_a_module_fixture: str,
) -> None:
    assert Path(home_seen_by_a_module_fixture) != REAL_HOME
    assert not Path(home_seen_by_a_module_fixture).is_relative_to(REAL_HOME)
