"""Build metadata of the running service: from the environment or a build file.

Looked up in this order, first value wins per field:
1. the `build=` argument of `sdk.init()`;
2. `CORAL_GIT_COMMIT`, `CORAL_GIT_BRANCH`, `CORAL_BUILD_TIME`;
3. the commit and branch variables of common CI systems (`GITHUB_SHA`,
   `CI_COMMIT_SHA`, `GIT_COMMIT`, `SOURCE_COMMIT`, `GITHUB_REF_NAME`,
   `CI_COMMIT_REF_NAME`, `GIT_BRANCH`);
4. a JSON build file: `$CORAL_BUILD_FILE`, else `coral-build.json` in the working
   directory — written at build time, for example
   `echo "{\\"commit\\": \\"$(git rev-parse HEAD)\\"}" > coral-build.json`.
The language version is always the running interpreter's.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

BUILD_FILE = "coral-build.json"
FIELDS = ("commit", "branch", "build_time")
_ENV: dict[str, tuple[str, ...]] = {
    "commit": ("CORAL_GIT_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT", "SOURCE_COMMIT"),
    "branch": ("CORAL_GIT_BRANCH", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "GIT_BRANCH"),
    "build_time": ("CORAL_BUILD_TIME",),
}
_MAX_FILE_BYTES = 16 * 1024
_MAX_VALUE_CHARS = 200


def build_metadata(
    given: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> dict[str, str]:
    """commit, branch, build_time (where known) and language, as strings."""
    env = os.environ if environ is None else environ
    found: dict[str, str] = {k: str(v)[:_MAX_VALUE_CHARS] for k, v in (given or {}).items()}
    for field, names in _ENV.items():
        if field not in found:
            value = next((env[n] for n in names if env.get(n)), None)
            if value is not None:
                found[field] = value[:_MAX_VALUE_CHARS]
    if any(field not in found for field in FIELDS):
        for field, value in _build_file(env, cwd).items():
            found.setdefault(field, value)
    found["language"] = f"{platform.python_implementation().lower()} {platform.python_version()}"
    return found


def _build_file(env: Mapping[str, str], cwd: Path | None) -> dict[str, str]:
    path = Path(env["CORAL_BUILD_FILE"]) if env.get("CORAL_BUILD_FILE") else None
    if path is None:
        path = (cwd or Path.cwd()) / BUILD_FILE
        if not path.is_file():
            return {}
    try:
        with path.open("rb") as handle:
            document = json.loads(handle.read(_MAX_FILE_BYTES + 1)[:_MAX_FILE_BYTES])
    except (OSError, ValueError) as exc:
        logger.warning("coral sdk: build file %s unreadable: %s", path, exc)
        return {}
    if not isinstance(document, dict):
        logger.warning("coral sdk: build file %s is not a JSON object", path)
        return {}
    return {
        field: str(document[field])[:_MAX_VALUE_CHARS]
        for field in FIELDS
        if isinstance(document.get(field), str | int | float)
    }
