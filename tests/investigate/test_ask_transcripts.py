"""docs/ask.md's transcripts are what `coral ask` prints today, word for word."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts.ask_transcripts import BEGIN, END, normalized

ROOT = Path(__file__).resolve().parent.parent.parent


def transcripts(page: str) -> str:
    return normalized(page.split(BEGIN, 1)[1].split(END, 1)[0])


def test_the_transcripts_in_docs_ask_match_a_fresh_run_of_coral_ask(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "ask_transcripts.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    committed = transcripts((ROOT / "docs" / "ask.md").read_text())
    assert committed == transcripts((tmp_path / "ask.md").read_text()), (
        "docs/ask.md's transcripts are stale: run `python scripts/ask_transcripts.py`"
        " and commit the result"
    )
