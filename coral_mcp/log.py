"""Logging set-up for Coral's processes: one line per record, always on stderr.

stderr only, because `coral-mcp serve` speaks MCP on stdout.
"""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send every Coral log record to stderr at `level` (a logging level name)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter that says nothing a Coral user can act on.
    for noisy in ("grpc", "uvicorn.access", "httpx2", "mcp", "fastmcp", "docket"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
