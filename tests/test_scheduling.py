"""`make test` on pytest-xdist workers: a group of tests shares one worker (and so one
module fixture: one running application), and the longest work starts first."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT, child_env

GROUPED = """
import os
import pytest

@pytest.mark.xdist_group("one")
@pytest.mark.parametrize("i", range(4))
def test_one(i):
    with open(os.environ["SEEN"], "a") as seen:
        seen.write(f"one {os.environ['PYTEST_XDIST_WORKER']}\\n")

@pytest.mark.parametrize("i", range(8))
def test_free(i):
    pass
"""


def test_tests_of_one_xdist_group_run_on_one_worker(tmp_path: Path) -> None:
    """`--dist loadgroup` as `make test` runs it (pytest 9.2 silently ignored the marks)."""
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    seen = tmp_path / "seen"
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup",
            "--no-loadscope-reorder", "-p", "no:cacheprovider", "-q", "-c", "/dev/null",
            "--rootdir", str(tmp_path), str(tmp_path / "test_grouped.py"),
        ],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**child_env(), "SEEN": str(seen)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    workers: dict[str, set[str]] = defaultdict(set)
    for line in seen.read_text().splitlines():
        group, worker = line.split()
        workers[group].add(worker)
    assert len(workers["one"]) == 1, workers


def test_the_live_fault_suite_is_collected_first_and_the_quick_tests_last() -> None:
    modules = [
        "tests/analysis/test_statistics.py",
        "tests/test_end_to_end.py",
        "tests/demo/test_live_faults.py",
        "tests/test_tier0_live.py",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *modules],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT, env=child_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    order = [line.split("::")[0] for line in done.stdout.splitlines() if "::" in line]
    firsts = [module for i, module in enumerate(order) if module not in order[:i]]
    assert firsts == [
        "tests/demo/test_live_faults.py",  # its group first (START_FIRST)
        "tests/test_end_to_end.py",
        "tests/test_tier0_live.py",  # real Coral processes (e2e)
        "tests/analysis/test_statistics.py",
    ]
