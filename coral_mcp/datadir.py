"""Data directories: created if missing (0700), tightened if older, checked writable.

A data dir holds secrets (tokens, keys) and what agents reported: only its owner may
enter it. A dir made by an older Coral (0755) is tightened to 0700 on first use, so the
files inside, whatever their own modes, are out of other users' reach.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from coral_mcp.errors import DataDirError

logger = logging.getLogger(__name__)


def ensure_data_dir(path: Path) -> Path:
    """Create `path` (0700) if needed and prove it writable; DataDirError otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DataDirError(
            f"cannot create data directory {path}: {exc.strerror or exc}",
            hint="choose a writable location with --data-dir",
        ) from None
    if not path.is_dir():
        raise DataDirError(f"data directory {path} is not a directory")
    _private(path)
    probe = path / f".coral-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirError(
            f"data directory {path} is not writable: {exc.strerror or exc}",
            hint="fix its permissions or choose another with --data-dir",
        ) from None
    return path


def _private(path: Path) -> None:
    """Make `path` 0700 when this user owns it and others may enter it."""
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            path.chmod(stat.S_IMODE(info.st_mode) & 0o700 | 0o700)
            logger.warning("data directory %s was open to other users: now 0700", path)
    except OSError as exc:
        raise DataDirError(f"cannot restrict data directory {path}: {exc.strerror}") from None


def read_token_file(path: Path) -> str | None:
    """The token kept in `path` (a colony's `mcp.token`), if it can be read."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
