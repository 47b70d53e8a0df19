"""Data directories: created if missing, checked writable up front."""

from __future__ import annotations

import os
from pathlib import Path

from coral_mcp.errors import DataDirError


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
