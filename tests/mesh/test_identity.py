"""`coral colony init` and join tokens: made once, private, checked."""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from click.testing import CliRunner

from coral_mcp.cli.main import coral
from coral_mcp.errors import ConfigError
from coral_mcp.mesh.keys import ColonyIdentity, verify_colony_cert
from coral_mcp.mesh.routes import check_subnet_free, host_routes
from coral_mcp.mesh.tokens import JoinToken, parse_ttl


def test_init_writes_a_private_identity_once_and_refuses_to_remake_it(tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "colony",
        "init",
        "--data-dir",
        str(tmp_path),
        "--mesh-id",
        "prod",
        "--subnet",
        "100.96.0.0/16",
        "--endpoint",
        "colony.example",
    ]
    first = runner.invoke(coral, args)
    assert first.exit_code == 0, first.output
    path = tmp_path / "colony" / "mesh" / "colony-identity.json"
    assert path.stat().st_mode & 0o777 == 0o600
    identity = ColonyIdentity.load(tmp_path / "colony")
    assert identity is not None
    assert (identity.mesh_id, identity.mesh_address) == ("prod", "100.96.0.1")
    assert identity.fingerprint in first.output
    verify_colony_cert(identity.tls_cert_pem, identity.colony_key)
    again = runner.invoke(coral, args)
    assert again.exit_code == 1 and "already has a mesh identity" in again.output
    reloaded = ColonyIdentity.load(tmp_path / "colony")
    assert reloaded is not None and reloaded.colony_key == identity.colony_key
    assert reloaded.wg_private_key == identity.wg_private_key


def test_a_subnet_overlapping_a_route_is_refused() -> None:
    routes = [IPv4Network("10.0.0.0/8"), IPv4Network("192.168.1.0/24")]
    with pytest.raises(ConfigError, match=r"overlaps the route to 10\.0\.0\.0/8"):
        check_subnet_free(IPv4Network("10.77.0.0/16"), routes)
    check_subnet_free(IPv4Network("100.96.0.0/16"), routes)


def test_init_reads_this_hosts_routes_and_refuses_an_overlap(tmp_path: Path) -> None:
    routes = [r for r in host_routes() if not r.is_loopback]
    if not routes:
        pytest.skip("this host has no route but the default one to overlap with")
    result = CliRunner().invoke(
        coral, ["colony", "init", "--data-dir", str(tmp_path), "--subnet", str(routes[0])]
    )
    assert result.exit_code == 1
    assert f"overlaps the route to {routes[0]}" in result.output
    assert not (tmp_path / "colony" / "mesh" / "colony-identity.json").exists()


def test_a_token_round_trips_and_the_colony_lists_it_without_its_secret(tmp_path: Path) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(
            coral, ["colony", "init", "--data-dir", str(tmp_path), "--endpoint", "10.1.2.3"]
        ).exit_code
        == 0
    )
    made = runner.invoke(
        coral,
        ["colony", "token", "create", "--data-dir", str(tmp_path), "--ttl", "30m", "--uses", "2"],
    )
    assert made.exit_code == 0, made.output
    token = JoinToken.decode(made.output.strip())
    identity = ColonyIdentity.load(tmp_path / "colony")
    assert identity is not None
    assert token.colony_key == identity.colony_key
    assert token.endpoints == ("10.1.2.3:9001",)
    listed = json.loads(
        runner.invoke(
            coral, ["colony", "token", "list", "--json", "--data-dir", str(tmp_path)]
        ).output
    )
    assert [(t["id"], t["state"], t["uses_left"]) for t in listed] == [(token.token_id, "valid", 2)]
    registry_bytes = (tmp_path / "colony" / "mesh" / "registry.sqlite").read_bytes()
    assert token.secret.encode() not in registry_bytes
    revoked = runner.invoke(
        coral, ["colony", "token", "revoke", token.token_id, "--data-dir", str(tmp_path)]
    )
    assert revoked.exit_code == 0
    unknown = runner.invoke(
        coral, ["colony", "token", "revoke", "nope", "--data-dir", str(tmp_path)]
    )
    assert unknown.exit_code == 1 and "no token 'nope'" in unknown.output


def test_a_mangled_token_and_a_bad_ttl_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="malformed"):
        JoinToken.decode("coral1.bm90LWpzb24")
    with pytest.raises(ConfigError, match="invalid duration"):
        parse_ttl("soon")
    assert parse_ttl("1h") == 3600


def test_mesh_status_of_a_colony_not_running_says_so_and_lists_joined_agents(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    assert runner.invoke(coral, ["colony", "init", "--data-dir", str(tmp_path)]).exit_code == 0
    text = runner.invoke(coral, ["mesh", "status", "--data-dir", str(tmp_path)])
    assert text.exit_code == 0, text.output
    assert "not running" in text.output and "no agents joined" in text.output
    doc = json.loads(
        runner.invoke(coral, ["mesh", "status", "--json", "--data-dir", str(tmp_path)]).output
    )
    assert doc["running"] is False and doc["peers"] == []
    missing = runner.invoke(coral, ["mesh", "ping", "ghost", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1 and "no agent 'ghost' in the mesh" in missing.output
    uninitialised = runner.invoke(coral, ["mesh", "status", "--data-dir", str(tmp_path / "x")])
    assert uninitialised.exit_code == 1 and "run `coral colony init` first" in uninitialised.output
