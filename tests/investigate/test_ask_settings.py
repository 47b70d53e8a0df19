"""`coral ask` settings: config file, command line, keys, external servers, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp_types import Tool, ToolAnnotations

from coral_mcp.cli.main import coral
from coral_mcp.errors import ConfigError
from coral_mcp.investigate.ask_settings import LOCAL_KEY, load
from coral_mcp.investigate.conversation import provider_name
from coral_mcp.investigate.mcp_bridge import specs_for, wanted_servers


def config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_no_config_and_no_flags_means_the_offline_builtin_provider(tmp_path: Path) -> None:
    settings = load(tmp_path / "missing.toml", {"ANTHROPIC_API_KEY": "k"})
    assert settings.provider == "builtin" and settings.api_key is None


def test_an_llm_provider_takes_its_key_from_the_usual_environment_variable(tmp_path: Path) -> None:
    settings = load(tmp_path / "none.toml", {"OPENAI_API_KEY": "sk-env"}, provider="openai")
    assert settings.api_key == "sk-env" and settings.model_name


def test_a_key_in_the_config_chooses_its_provider_and_never_shows_in_repr(tmp_path: Path) -> None:
    path = config(tmp_path, '[ask]\nprovider = "anthropic"\napi_key = "sk-secret-123"\n')
    settings = load(path, {})
    assert settings.provider == "anthropic" and settings.api_key == "sk-secret-123"
    assert "sk-secret-123" not in repr(settings)


def test_a_config_holding_a_key_that_others_can_read_is_refused(tmp_path: Path) -> None:
    path = config(tmp_path, '[ask]\nprovider = "anthropic"\napi_key = "k"\n', mode=0o644)
    with pytest.raises(ConfigError) as err:
        load(path, {})
    assert "others may read it (mode 0644)" in err.value.message
    assert err.value.hint == f"chmod 600 {path}"


def test_a_server_token_in_headers_counts_as_a_secret_too(tmp_path: Path) -> None:
    text = '[ask.mcp_servers.s]\nurl = "http://x/mcp"\nheaders = {Authorization = "Bearer t"}\n'
    with pytest.raises(ConfigError, match="holds a secret"):
        load(config(tmp_path, text, mode=0o640), {})


def test_a_local_openai_compatible_server_needs_no_key(tmp_path: Path) -> None:
    settings = load(
        tmp_path / "none.toml", {}, provider="openai", base_url="http://localhost:11434/v1"
    )
    assert settings.api_key == LOCAL_KEY and settings.base_url == "http://localhost:11434/v1"


def test_a_hosted_provider_without_a_key_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "none.toml", {}, provider="anthropic")
    assert "needs an API key" in err.value.message and "ANTHROPIC_API_KEY" in str(err.value.hint)


def test_claude_desktop_mcp_servers_shape_is_read(tmp_path: Path) -> None:
    text = (
        "[ask.mcpServers.sentry]\n"
        'command = "npx"\nargs = ["-y", "@sentry/mcp-server"]\n'
        "[ask.mcpServers.grafana]\n"
        'url = "http://grafana:8000/mcp"\ndisabled = true\n'
    )
    settings = load(config(tmp_path, text), {})
    (sentry,) = settings.mcp_servers
    assert sentry.name == "sentry" and sentry.args == ("-y", "@sentry/mcp-server")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[ask]\nprovider = "gemini"\n', "[ask] provider"),
        ("[ask]\nmax_steps = 0\n", "[ask] max_steps"),
        ("[ask]\ncolour = 1\n", "[ask] colour"),
        ("[ask.mcp_servers.x]\nargs = []\n", "give either command (stdio) or url (HTTP)"),
        ("[ask\n", "not valid TOML"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file_and_field(
    tmp_path: Path, text: str, says: str
) -> None:
    path = config(tmp_path, text)
    result = CliRunner().invoke(coral, ["ask", "hi"], env={"CORAL_CONFIG": str(path)})
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error: ")]
    assert str(path) in line and says in line
    assert "Traceback" not in result.output


def test_tool_names_are_made_valid_for_every_provider() -> None:
    assert provider_name("sentry__search_issues") == "sentry__search_issues"
    assert provider_name("my.server__get.issue") == "my_server__get_issue"
    long = provider_name("x" * 100)
    assert len(long) <= 64 and long != provider_name("x" * 99)
    assert provider_name("a.b", {"a_b"}) != "a_b"


def test_external_tools_are_namespaced_and_only_read_only_ones_offered() -> None:
    read = ToolAnnotations(read_only_hint=True)
    tools = [
        Tool(name="search.issues", input_schema={"type": "object"}, annotations=read),
        Tool(name="resolve", input_schema={"type": "object"}),
        Tool(name="stats", input_schema={"type": "object"}),
    ]
    specs, left_out = specs_for("my.sentry", tools, set(), vouched=["stats"])
    assert [s.name for s in specs] == ["my_sentry__search_issues", "my_sentry__stats"]
    assert [s.remote_name for s in specs] == ["search.issues", "stats"] and left_out == 1


def test_servers_join_when_named_or_when_auto_query_meets_a_weak_hypothesis(
    tmp_path: Path,
) -> None:
    text = '[ask.mcp_servers.sentry]\ncommand = "x"\n[ask.mcp_servers.grafana]\ncommand = "y"\n'
    specs = load(config(tmp_path, text), {}).mcp_servers
    assert [s.name for s in wanted_servers("check Sentry too", specs, False, False)] == ["sentry"]
    assert wanted_servers("what happened?", specs, True, False) == []
    assert len(wanted_servers("what happened?", specs, True, True)) == 2
    assert wanted_servers("what happened?", specs, False, True) == []
