"""Docs stay true: generated pages match the code, README keeps its two-command start."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from coral_mcp.cli.claude_desktop import claude_desktop_config
from coral_mcp.cli.main import coral
from coral_mcp.cli.mcp_main import coral_mcp

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pages scripts/gen_docs.py writes today (one run for the tests below, which one
    worker runs together: their xdist group)."""
    out = tmp_path_factory.mktemp("generated-docs")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.xdist_group("generated-docs")
@pytest.mark.parametrize("page", ["cli.md", "mcp.md", "api.md"])
def test_generated_reference_pages_match_the_code(generated: Path, page: str) -> None:
    committed = (ROOT / "docs" / page).read_text()
    assert committed == (generated / page).read_text(), (
        f"docs/{page} is stale: run `python scripts/gen_docs.py` and commit the result"
    )


@pytest.mark.xdist_group("generated-docs")
def test_readme_lists_the_tools_resources_templates_and_prompts_the_server_has(
    generated: Path,
) -> None:
    assert (ROOT / "README.md").read_text() == (generated / "README.md").read_text(), (
        "README.md's MCP list is stale: run `python scripts/gen_docs.py` and commit the result"
    )


def test_every_command_has_a_description() -> None:
    def walk(group: click.Command, path: str) -> list[str]:
        missing = []
        if not isinstance(group, click.Group):
            return missing
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None, f"{path} {name} cannot be loaded"
            if not (command.help or command.short_help):
                missing.append(f"{path} {name}")
            missing += walk(command, f"{path} {name}")
        return missing

    assert walk(coral, "coral") + walk(coral_mcp, "coral-mcp") == []


def test_readme_quick_start_is_exactly_make_run_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Quick start")
    block = readme[start:].split("```", 2)[1]
    commands = [line for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


def test_readme_names_the_number_of_test_workers_the_makefile_runs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    workers = re.search(r"^TEST_WORKERS \?= (\d+)$", makefile, re.MULTILINE)
    assert workers is not None
    assert f"`TEST_WORKERS={workers.group(1)}` by default" in (ROOT / "README.md").read_text()


def test_ci_runs_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_claude_desktop_example_has_the_shape_coral_mcp_prints() -> None:
    example = json.loads((ROOT / "claude_desktop_config.example.json").read_text())
    generated = claude_desktop_config(Path("/home/you/.local/share/coral"))
    assert example["mcpServers"].keys() == generated["mcpServers"].keys() == {"coral"}
    assert example["mcpServers"]["coral"]["args"] == generated["mcpServers"]["coral"]["args"]
    assert Path(example["mcpServers"]["coral"]["command"]).name == "coral-mcp"
    assert Path(generated["mcpServers"]["coral"]["command"]).is_absolute()
