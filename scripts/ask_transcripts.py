"""Regenerate the transcripts in docs/ask.md from real `coral ask` runs.

Usage: python scripts/ask_transcripts.py [OUT_DIR]     (default: the repository's docs/)

Loads a real colony with the recorded latency incident (`tests/intelligence/cases.py`:
db's latency rose at 01:00; api and web followed), plays the models with this
repository's fake Anthropic and OpenAI servers (`tests/fakes/llm_servers.py`, their real
wire formats, reached by the real SDKs through the base URL), runs the installed
`coral ask` for each transcript as a fresh process, stderr and stdout on one pipe as a
terminal shows them, and writes the results between the `generated: ask-transcripts`
markers of docs/ask.md (with OUT_DIR, a copy of ask.md goes there).

Ids, timings, sizes and ports differ from run to run: `normalized()` masks them, so a
test can compare the committed page with a fresh run and fail when the words drift.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coral_mcp.investigate.ask_settings import LOCAL_KEY  # noqa: E402
from tests.fakes.llm_servers import Call, Fail, FakeAnthropic, FakeLLM, FakeOpenAI, Item, Say  # noqa: E402
from tests.intelligence import cases  # noqa: E402
from tests.investigate.ask_colony import loaded_colony  # noqa: E402
from tests.investigate.test_ask_llm import ISSUES_SERVER, THREE_STEPS  # noqa: E402

BEGIN = "<!-- generated: ask-transcripts -->"
END = "<!-- end: ask-transcripts -->"
CORAL = str(Path(sys.executable).parent / "coral")
SINCE = "SINCE"  # replaced by the case's first sample time
URL = "BASE_URL"  # replaced by the fake server's URL, shown as SHOWN_URL
SHOWN_URL = "http://127.0.0.1:PORT/v1"


@dataclass(frozen=True)
class Transcript:
    title: str
    #: `coral ask`'s arguments as shown (the colony's `--colony URL` is added, not shown).
    args: Sequence[str]
    provider: str = "builtin"
    script: Sequence[Item] = ()
    repeat_last: bool = False
    #: `[ask]` lines of the config file this run gets (through $CORAL_CONFIG).
    config: str = ""
    #: The provider key in the environment (a local server needs none).
    key: bool = True
    #: Keep this many lines of a builtin report that follows an LLM's failure.
    report_lines: int | None = None
    env: dict[str, str] = field(default_factory=dict)


FAST = "backoff_s = 0.1\n"
ISSUES = f'[ask.mcp_servers.issues]\ncommand = "{sys.executable}"\nargs = ["{ISSUES_SERVER}"]\n'
FOLLOW_UP = "Start with db: look at its slow-query log from 01:00Z and its connection pool;"
TRANSCRIPTS = (
    Transcript("builtin", ["why is web slow?", "--since", SINCE]),
    Transcript(
        "anthropic, three tool steps",
        ["why is web slow?", "--provider", "anthropic", "--since", SINCE],
        "anthropic",
        THREE_STEPS,
    ),
    Transcript(
        "anthropic, a follow-up",
        ["what should I check first?", "--continue", "--provider", "anthropic"],
        "anthropic",
        [Say(FOLLOW_UP + " api and web only follow it. Nothing was changed.")],
    ),
    Transcript(
        "openai (here: a local model name at a local base URL, no key)",
        ["why is web slow?", "--provider", "openai", "--model", "qwen3:8b", "--base-url", URL],
        "openai",
        THREE_STEPS,
        key=False,
    ),
    Transcript(
        "openai, the server fails: retries, then the builtin report",
        ["what happened?", "--provider", "openai"],
        "openai",
        [Fail(500, "internal error")],
        repeat_last=True,
        config="max_retries = 2\n",
        report_lines=1,
    ),
    Transcript(
        "an external MCP server bridged in",
        ["what happened? check issues too", "--provider", "openai"],
        "openai",
        [
            Call([("issues__search_issues", {"query": "db"})]),
            Say(
                "db's latency rose from 50 to 206 ms at 01:00Z; the issue tracker agrees:"
                " DB-17 'timeout acquiring connection' (412 events). Confidence 0.9."
                " Check db's connection pool."
            ),
        ],
        config=ISSUES,
    ),
)
KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
FAKES: dict[str, type[FakeLLM]] = {"anthropic": FakeAnthropic, "openai": FakeOpenAI}


def run(t: Transcript, colony_url: str, since: str, tmp: Path) -> str:
    """One transcript: the command line as a person types it, then what it printed."""
    if t.provider == "builtin":
        return _run(t, colony_url, since, tmp, None)
    with FAKES[t.provider](t.script, repeat_last=t.repeat_last) as fake:
        if not t.key:
            fake.key = LOCAL_KEY  # what Coral sends a keyless local server
        return _run(t, colony_url, since, tmp, fake)


def _run(t: Transcript, colony_url: str, since: str, tmp: Path, fake: FakeLLM | None) -> str:
    config = tmp / "config.toml"
    base_url = fake.base_url if fake else ""
    in_file = f'base_url = "{base_url}"\n' if fake and URL not in t.args else ""
    config.write_text(f"[ask]\n{FAST}{in_file}{t.config}")
    config.chmod(0o600)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "CORAL_CONFIG": str(config),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "100",
        **t.env,
    }
    if fake and t.key:
        env[KEY_ENV[t.provider]] = fake.key
    args = [since if a == SINCE else base_url if a == URL else a for a in t.args]
    done = subprocess.run(
        [CORAL, "ask", *args, "--colony", colony_url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{t.title}: coral ask failed ({done.returncode}):\n{done.stdout}")
    shown = " ".join(_quoted(a) for a in args)
    out = _cut_report(done.stdout, t.report_lines)
    if base_url:  # the fake's port changes from run to run
        out, shown = out.replace(base_url, SHOWN_URL), shown.replace(base_url, SHOWN_URL)
    return f"### {t.title}\n\n```\n$ coral ask {shown}\n{out.rstrip()}\n```\n"


def _quoted(arg: str) -> str:
    return f'"{arg}"' if " " in arg or "?" in arg else arg


def _cut_report(out: str, keep: int | None) -> str:
    """A builtin report after an LLM's failure, cut to its first `keep` lines."""
    if keep is None:
        return out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Most likely:"))
    end = next(i for i in range(len(lines) - 1, 0, -1) if lines[i].startswith("(coral://"))
    return "\n".join([*lines[: start + keep], "...", *lines[end:]]) + "\n"


def section() -> str:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with loaded_colony(cases.latency(tmp / "cases"), tmp / "colony") as colony:
            runs = [run(t, colony.url, colony.since, tmp) for t in TRANSCRIPTS]
    return "\n".join(runs)


def replace_section(page: str, body: str) -> str:
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{body}\n{END}{tail}"


#: What changes from run to run (ids, timings, sizes, ports), masked for comparison.
_VARYING = (
    (re.compile(r"\b(ask|inv)-[0-9a-f]{6,}\b"), r"\1-ID"),
    (re.compile(r"\b\d+(\.\d+)? s\b"), "T s"),
    (re.compile(r"\b\d+ ms\b"), "T ms"),
    (re.compile(r"\b[\d,]+ chars\b"), "N chars"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
)


def normalized(text: str) -> str:
    for pattern, mask in _VARYING:
        text = pattern.sub(mask, text)
    return text


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    page = (ROOT / "docs" / "ask.md").read_text()
    (out_dir / "ask.md").write_text(replace_section(page, section()))


if __name__ == "__main__":
    main()
