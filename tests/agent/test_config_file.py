"""The agent's config file: TOML and YAML, validated, unknown keys named."""

from __future__ import annotations

from pathlib import Path

import pytest

from coral_mcp.agent.config_file import load_config_file
from coral_mcp.cli.agent import build_settings
from coral_mcp.errors import ConfigError
from coral_mcp.models import SpecKind
from coral_mcp.models.checks import CheckKind

TOML = """
colony = "10.0.0.5:9000"
interval_s = 5
auto_discover = true

[ring]
max_age_s = 1800
max_bytes = 50_000_000

[[service]]
name = "api"
match = "port:8080"

  [[service.health]]
  kind = "http"
  target = "http://127.0.0.1:8080/health"
  timeout_s = 1.5

  [[service.scrape]]
  url = "http://127.0.0.1:8080/metrics"
  max_series = 50

[[service]]
name = "postgres"

  [[service.health]]
  kind = "tcp"
  target = "127.0.0.1:5432"
"""

YAML = """
colony: 10.0.0.5:9000
interval_s: 5
auto_discover: true
ring: {max_age_s: 1800, max_bytes: 50000000}
service:
  - name: api
    match: port:8080
    health:
      - {kind: http, target: "http://127.0.0.1:8080/health", timeout_s: 1.5}
    scrape:
      - {url: "http://127.0.0.1:8080/metrics", max_series: 50}
  - name: postgres
    health:
      - {kind: tcp, target: "127.0.0.1:5432"}
"""


@pytest.mark.parametrize(("suffix", "text"), [(".toml", TOML), (".yaml", YAML)])
def test_toml_and_yaml_config_files_give_the_same_settings(
    tmp_path: Path, suffix: str, text: str
) -> None:
    path = tmp_path / f"agent{suffix}"
    path.write_text(text)
    settings = build_settings(path, (), None, tmp_path)
    assert settings.colony == "10.0.0.5:9000" and settings.interval_s == 5
    assert settings.auto_discover and settings.ring_max_bytes == 50_000_000
    assert [(s.name, s.kind, s.value) for s in settings.services] == [
        ("api", SpecKind.PORT, "8080")
    ]
    assert [(c.service, c.kind, c.timeout_s) for c in settings.health_checks] == [
        ("api", CheckKind.HTTP, 1.5),
        ("postgres", CheckKind.TCP, 2.0),
    ]
    assert settings.scrapes[0].max_series == 50


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(TOML)
    settings = build_settings(path, ("db=port:5432",), False, tmp_path, interval_s=2.0)
    assert settings.interval_s == 2.0 and not settings.auto_discover
    assert [s.name for s in settings.services] == ["api", "db"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("intervall_s = 5", "unknown key intervall_s"),
        ('[[service]]\nname = "a"\nhelth = []', "unknown key service[0].helth"),
        ('[[service]]\nname = "a"\n[[service.health]]\nkind = "http"\ntarget = "x"\nevery = 1',
         "unknown key service[0].health[0].every"),
        ('interval_s = "fast"', "interval_s must be a number"),
        ('[[service]]\nname = "a"\n[[service.health]]\nkind = "icmp"\ntarget = "x"',
         "kind must be http, tcp or grpc"),
        ('[[service]]\nname = "a"\nmatch = "port:0"', "service[0].match"),
        ("[[service]]\nmatch = \"port:1\"", "service[0].name is required"),
        ("interval_s = ", "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_config_files_are_refused_naming_the_key(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as raised:
        load_config_file(path)
    assert says in raised.value.message


def test_a_missing_config_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config_file(tmp_path / "nope.toml")
