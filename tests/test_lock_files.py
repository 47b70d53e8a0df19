"""pyproject.toml declares compatible ranges; the lock files pin one tested version of each."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;#]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def test_pyproject_declares_ranges_not_exact_pins() -> None:
    for line in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]:
        assert "==" not in line, f"{line}: declare a range here; the lock file pins it"


@pytest.mark.parametrize(
    ("lock", "declared"),
    [
        ("requirements.lock", PROJECT["dependencies"]),
        (
            "requirements-dev.lock",
            PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"],
        ),
    ],
)
def test_each_lock_file_pins_every_declared_dependency_within_its_range(
    lock: str, declared: list[str]
) -> None:
    pinned = pins(lock)
    for line in declared:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in {lock}: run `make lock`"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {req.name}=={pinned[name]} outside {req.specifier}: run `make lock`"
        )
