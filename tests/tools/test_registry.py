"""Adding a tool is one module in `tools/` and its test: a marked function is found,
listed at its rank, served over REST when it asks to be, and a clash is refused."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import coral_mcp.tools
from coral_mcp.tools import catalog, registry

_NEW_TOOL = '''
from pydantic import BaseModel
from coral_mcp.tools.registry import tool


class Echo(BaseModel):
    said: str


@tool({rank}, rest="echo")
async def {name}(data: object, words: str = "hello") -> Echo:
    """Says the words back."""
    return Echo(said=words)
'''


@pytest.fixture
def tools_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A second directory of the tools package, and the marks as they were afterwards."""
    monkeypatch.setattr(coral_mcp.tools, "__path__", [*coral_mcp.tools.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_MARKS", dict(registry._MARKS))
    yield tmp_path
    sys.modules.pop("coral_mcp.tools.echo_tool", None)


def test_a_marked_function_in_a_new_module_is_listed_at_its_rank_and_served(
    tools_dir: Path,
) -> None:
    (tools_dir / "echo_tool.py").write_text(_NEW_TOOL.format(rank=15, name="echo"))
    names = [t.__name__ for t in catalog._discover()]
    assert names[:3] == ["list_services", "echo", "get_service"]
    assert ("echo", "echo") in [(path, f.__name__) for path, f in registry.rest_marked()]
    assert list(catalog.signature(catalog._discover()[1]).parameters) == ["words"]


def test_two_tools_with_one_name_or_rank_are_refused(tools_dir: Path) -> None:
    (tools_dir / "echo_tool.py").write_text(_NEW_TOOL.format(rank=20, name="echo"))
    with pytest.raises(RuntimeError, match="share a name or a rank"):
        catalog._discover()
