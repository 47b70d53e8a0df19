"""Secret files: written atomically (temp file + fsync + rename) with 0600 permissions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from coral_mcp.errors import DataDirError


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; only the owner can read it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise DataDirError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_private_json(path: Path, doc: dict[str, Any]) -> None:
    write_private(path, json.dumps(doc, indent=2, sort_keys=True).encode())


def read_json(path: Path, what: str) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when there is no such file."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DataDirError(
            f"cannot read the {what} {path}: {exc}", hint="fix or restore the file"
        ) from None
    if not isinstance(raw, dict):
        raise DataDirError(f"the {what} {path} is not a JSON object")
    return raw
