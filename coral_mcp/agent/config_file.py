"""The agent's config file (`--config agent.toml`, or `.yaml`/`.yml`): read, validated,
turned into AgentSettings fields.

Every key is known: an unknown one (a typo) is an error naming it with its place
(`service[1].helth`), as is a value of the wrong type. See docs/agent.md for the format.
TOML is read with the standard library; YAML with PyYAML, imported only for YAML files.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from coral_mcp.errors import ConfigError, CoralError
from coral_mcp.models import ServiceSpec, parse_service_spec
from coral_mcp.models.checks import CheckKind, HealthCheckSpec, ScrapeSpec

_NUMBER = (int, float)
_TOP: dict[str, Any] = {
    "colony": str,
    "data_dir": str,
    "auto_discover": bool,
    "interval_s": _NUMBER,
    "push_s": _NUMBER,
    "heartbeat_s": _NUMBER,
    "socket_scan_s": _NUMBER,
    "host_metrics": bool,
    "auto_probe": bool,
    "proc_root": str,
    "cgroup_root": str,
    "systemctl": str,
    "ring": dict,
    "service": list,
}
_RING = {"max_age_s": _NUMBER, "max_bytes": int}
_SERVICE = {"name": str, "match": str, "health": list, "scrape": list, "auto_probe": bool}
_HEALTH = {
    "kind": str,
    "target": str,
    "interval_s": _NUMBER,
    "timeout_s": _NUMBER,
    "grpc_service": str,
}
_SCRAPE = {"url": str, "interval_s": _NUMBER, "timeout_s": _NUMBER, "max_series": int}
_HINT = "see docs/agent.md for the config file's keys"


def load_config_file(path: Path) -> dict[str, Any]:
    """AgentSettings keyword arguments from the file (only the keys it sets)."""
    doc = _read(path)
    _check(doc, _TOP, "", path)
    fields: dict[str, Any] = {
        key: value for key, value in doc.items() if key not in ("ring", "service")
    }
    for key in ("data_dir", "proc_root", "cgroup_root"):
        if key in fields:
            fields[key] = Path(fields[key]).expanduser()
    ring = doc.get("ring", {})
    _check(ring, _RING, "ring.", path)
    if "max_age_s" in ring:
        fields["ring_max_age_s"] = float(ring["max_age_s"])
    if "max_bytes" in ring:
        fields["ring_max_bytes"] = ring["max_bytes"]
    specs: list[ServiceSpec] = []
    checks: list[HealthCheckSpec] = []
    scrapes: list[ScrapeSpec] = []
    skip: list[str] = []
    for index, entry in enumerate(doc.get("service", [])):
        where = f"service[{index}]."
        _check(entry, _SERVICE, where, path)
        name = entry.get("name")
        if not name:
            raise ConfigError(f"{path}: {where}name is required", hint=_HINT)
        if entry.get("auto_probe") is False:
            skip.append(name)
        if "match" in entry:
            specs.append(_parse_spec(f"{name}={entry['match']}", path, where))
        for number, health in enumerate(entry.get("health", [])):
            checks.append(_health(name, health, path, f"{where}health[{number}]."))
        for number, scrape in enumerate(entry.get("scrape", [])):
            _check(scrape, _SCRAPE, f"{where}scrape[{number}].", path)
            if "url" not in scrape:
                raise ConfigError(f"{path}: {where}scrape[{number}].url is required", hint=_HINT)
            scrapes.append(ScrapeSpec(service=name, **scrape))
    if specs:
        fields["services"] = tuple(specs)
    if checks:
        fields["health_checks"] = tuple(checks)
    if scrapes:
        fields["scrapes"] = tuple(scrapes)
    if skip:
        fields["auto_probe_skip"] = tuple(skip)
    return fields


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml  # noqa: PLC0415 - only YAML users pay for the import

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a table of keys", hint=_HINT)
    return doc


def _check(doc: object, schema: dict[str, Any], where: str, path: Path) -> None:
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: {where.rstrip('.') or 'the file'} must be a table", hint=_HINT)
    for key, value in doc.items():
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"{path}: unknown key {where}{key}", hint=f"known keys: {known}")
        expected = schema[key]
        if isinstance(value, bool) and expected is not bool:
            wrong = True
        else:
            wrong = not isinstance(value, expected)
        if wrong:
            kind = "a number" if expected is _NUMBER else f"a {expected.__name__}"
            raise ConfigError(f"{path}: {where}{key} must be {kind} (got {value!r})", hint=_HINT)


def _parse_spec(text: str, path: Path, where: str) -> ServiceSpec:
    try:
        return parse_service_spec(text)
    except CoralError as exc:
        raise ConfigError(f"{path}: {where}match: {exc.message}", hint=exc.hint) from None


def _health(service: str, entry: object, path: Path, where: str) -> HealthCheckSpec:
    _check(entry, _HEALTH, where, path)
    assert isinstance(entry, dict)
    if "kind" not in entry or "target" not in entry:
        raise ConfigError(f"{path}: {where}kind and {where}target are required", hint=_HINT)
    try:
        kind = CheckKind(entry["kind"])
    except ValueError:
        raise ConfigError(
            f"{path}: {where}kind must be http, tcp or grpc (got {entry['kind']!r})"
        ) from None
    return HealthCheckSpec(service=service, **{**entry, "kind": kind})
