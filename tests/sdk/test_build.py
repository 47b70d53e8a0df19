"""Build metadata: the init argument, then the environment, then the build file."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from coral_mcp.sdk.build import build_metadata


def test_build_metadata_comes_from_coral_variables_before_ci_variables(tmp_path: Path) -> None:
    env = {"CORAL_GIT_COMMIT": "abc123", "GITHUB_SHA": "fff", "GITHUB_REF_NAME": "main"}
    found = build_metadata(environ=env, cwd=tmp_path)
    assert found["commit"] == "abc123" and found["branch"] == "main"
    assert found["language"] == f"cpython {platform.python_version()}"
    assert "build_time" not in found


def test_the_build_file_fills_what_the_environment_does_not_say(tmp_path: Path) -> None:
    (tmp_path / "coral-build.json").write_text(
        json.dumps({"commit": "from-file", "branch": "release", "build_time": "2026-11-28T05:00Z"})
    )
    found = build_metadata(environ={"CORAL_GIT_BRANCH": "hotfix"}, cwd=tmp_path)
    assert found["commit"] == "from-file"
    assert found["branch"] == "hotfix"
    assert found["build_time"] == "2026-11-28T05:00Z"


def test_an_explicit_build_file_and_the_init_argument_win(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"commit": "file", "build_time": 1764306000}))
    found = build_metadata(
        {"commit": "given"}, environ={"CORAL_BUILD_FILE": str(path)}, cwd=tmp_path
    )
    assert found["commit"] == "given" and found["build_time"] == "1764306000"


def test_a_broken_build_file_is_ignored_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "coral-build.json").write_text("{not json")
    assert set(build_metadata(environ={}, cwd=tmp_path)) == {"language"}
    (tmp_path / "coral-build.json").write_text('["a list"]')
    assert set(build_metadata(environ={}, cwd=tmp_path)) == {"language"}
