"""`python -m coral_mcp.agent [coral options] agent start ...`: the agent in a lean process.

`coral agent start` re-executes itself through this module (same pid) so that the
long-running agent does not carry what only other commands need. Python's `ssl`
module (and OpenSSL with it, about 4 MB resident) is kept out unless the agent
will speak HTTPS: gRPC brings its own TLS, and asyncio and http.client work without
`ssl`. Set CORAL_AGENT_LEAN=0 to run `coral agent start` in place instead.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import sys
from pathlib import Path

LEAN_ENV = "CORAL_AGENT_LEAN"


def needs_tls(args: list[str]) -> bool:
    """Whether any URL the agent will fetch (flags or config file) is HTTPS."""
    paths = [value for flag, value in itertools.pairwise(args) if flag == "--config"]
    paths += [arg.split("=", 1)[1] for arg in args if arg.startswith("--config=")]
    texts = list(args)
    for path in paths:
        with contextlib.suppress(OSError):  # the CLI reports an unreadable file
            texts.append(Path(path).read_text())
    return any("https://" in text for text in texts)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # quiet Ctrl-C while importing (cli/entry.py)
    args = sys.argv[1:]
    if not needs_tls(args):
        sys.modules["ssl"] = None  # type: ignore[assignment]  # import ssl -> ImportError
    from coral_mcp.cli.main import coral  # noqa: PLC0415 - after ssl is fenced off

    coral(args, prog_name="coral")


if __name__ == "__main__":
    main()
