"""The LLM SDKs cost ~1 s and ~40 MB to import: nothing but an LLM question loads them."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
{imports}
heavy = sorted(m for m in ("anthropic", "openai", "mcp", "rich", "pydantic") if m in sys.modules)
print(",".join(heavy))
"""


def loaded_after(*modules: str) -> set[str]:
    imports = "\n".join(m if " " in m else f"import {m}" for m in modules)
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return {m for m in done.stdout.strip().split(",") if m}


def test_coral_mcp_serve_and_the_agent_never_import_an_llm_sdk() -> None:
    modules = ("coral_mcp.cli.mcp_main", "coral_mcp.server", "coral_mcp.cli.stdio_proxy")
    assert loaded_after(*modules, "coral_mcp.cli.agent") & {"anthropic", "openai"} == set()


def test_serving_a_running_colony_needs_neither_fastmcp_nor_rich() -> None:
    probe = "import sys\nimport coral_mcp.cli.stdio_proxy\nprint('fastmcp' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
    assert not loaded_after("coral_mcp.cli.stdio_proxy") & {"rich", "anthropic", "openai"}


def test_coral_ask_loads_no_http_client_library_and_not_the_agent() -> None:
    probe = (
        "import sys\nfrom coral_mcp.cli.main import coral\nimport coral_mcp.cli.ask\n"
        "import coral_mcp.investigate.rest_colony\n"
        "print(sorted(m for m in ('httpx2', 'psutil', 'coral_mcp.cli.agent') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_the_builtin_provider_without_a_config_loads_no_sdk_rich_or_pydantic() -> None:
    modules = (
        "coral_mcp.cli.main",
        "coral_mcp.investigate.session",
        "coral_mcp.investigate.rest_colony",
        "coral_mcp.investigate.progress",
        "coral_mcp.investigate.ask_settings",
        "coral_mcp.investigate.providers",
        "coral_mcp.investigate.record",
        "coral_mcp.investigate.loop",
        "from coral_mcp.investigate.ask_settings import load; load(__import__('pathlib').Path('/none'), {})",
    )
    assert loaded_after(*modules) == set()


def test_the_llm_path_loads_the_mcp_sdk_but_a_provider_sdk_only_when_chosen() -> None:
    assert loaded_after("coral_mcp.investigate.llm_session") >= {"mcp"}
    assert not loaded_after("coral_mcp.investigate.llm_session") & {"anthropic", "openai"}
    assert "anthropic" in loaded_after("coral_mcp.investigate.anthropic_provider")
