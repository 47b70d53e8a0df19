"""Coral's in-app SDK: tell the agent who this service is and how its parts are.

    from coral_mcp import sdk
    sdk.init(service="api", version="2.1.0",
             endpoints={"metrics": "http://127.0.0.1:8000/metrics"},
             components={"db": check_db, "cache": check_cache})

`init` gathers build metadata (`coral_mcp.sdk.build`), starts a local endpoint on a
Unix socket the agent on this host finds by the process id (`coral_mcp.sdk.protocol`)
and returns. Nothing runs on the application's request path: component checks run only
when someone asks (the agent, every sample), each bounded by `timeout_s`
(`coral_mcp.sdk.components`). For web apps, `coral_mcp.sdk.asgi.CoralMiddleware`
(FastAPI, Starlette) and `coral_mcp.sdk.wsgi.with_coral` (Flask, any WSGI app) do the
same in two lines.

This package imports the standard library only, so adding it to an application adds no
dependency and a few hundred kilobytes of memory.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coral_mcp.sdk.build import build_metadata
from coral_mcp.sdk.components import Check, ComponentResult, Components
from coral_mcp.sdk.protocol import SCHEMA, SOCKET_DIR

if TYPE_CHECKING:
    import asyncio

    from coral_mcp.sdk.endpoint import Endpoint

__all__ = ["Check", "ComponentResult", "Sdk", "current", "info", "init", "shutdown"]

logger = logging.getLogger(__name__)

_MAX_NAME_CHARS = 200


@dataclass(slots=True)
class Sdk:
    """What `init` set up; `info()` is the document the agent reads."""

    service: str
    version: str | None
    endpoints: dict[str, str]
    build: dict[str, str]
    components: Components
    endpoint: Endpoint | None = field(default=None)

    def info(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "service": self.service,
            "version": self.version,
            "pid": os.getpid(),
            "build": self.build,
            "endpoints": self.endpoints,
            "components": {
                name: result.as_json() for name, result in self.components.evaluate().items()
            },
        }

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None
        self.components.close()


class _Process:
    """This process's SDK state (one per process; a forked child renews it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: Sdk | None = None
        self.hooked = False


_process = _Process()


def init(
    service: str,
    version: str | None = None,
    endpoints: Mapping[str, str] | None = None,
    components: Mapping[str, Check] | None = None,
    *,
    build: Mapping[str, str] | None = None,
    timeout_s: float = 2.0,
    min_interval_s: float = 1.0,
    loop: asyncio.AbstractEventLoop | None = None,
    serve: bool = True,
) -> Sdk:
    """Describe this service to Coral and start the local endpoint; returns the handle.

    `version` defaults to `$CORAL_SERVICE_VERSION`. `endpoints` names URLs the service
    offers (`metrics`, `health`, ...). `components` maps a name to a check (see
    `coral_mcp.sdk.components`); each evaluation waits at most `timeout_s` and is reused
    for `min_interval_s`. `loop` is the event loop `async` checks run on. With
    `serve=False` no endpoint is started (`sdk.info()` still answers). Calling `init`
    again replaces the previous set-up. Mistakes in the arguments raise at once
    (`TypeError`/`ValueError`); a socket that cannot be made is logged, not raised.
    """
    if not isinstance(service, str) or not service.strip():
        raise ValueError("sdk.init: service must be a non-empty name")
    if timeout_s <= 0 or min_interval_s < 0:
        raise ValueError("sdk.init: timeout_s must be > 0 and min_interval_s >= 0")
    sdk = Sdk(
        service=service.strip()[:_MAX_NAME_CHARS],
        version=version if version is not None else os.environ.get("CORAL_SERVICE_VERSION"),
        endpoints={str(k): str(v) for k, v in (endpoints or {}).items()},
        build=build_metadata(build),
        components=Components(
            components or {}, timeout_s=timeout_s, min_interval_s=min_interval_s, loop=loop
        ),
    )
    with _process.lock:
        _hook_process()
        if _process.current is not None:
            _process.current.close()
        if serve:
            sdk.endpoint = _start_endpoint(sdk)
        _process.current = sdk
    return sdk


def _hook_process() -> None:
    """Once, at the first init: clean up at exit, follow forks (not at import: the
    agent imports `coral_mcp.sdk.protocol` and must not carry these hooks)."""
    if not _process.hooked:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        atexit.register(shutdown)
        _process.hooked = True


def _start_endpoint(sdk: Sdk) -> Endpoint | None:
    from coral_mcp.sdk.endpoint import Endpoint  # noqa: PLC0415 - sockets only when serving

    try:
        return Endpoint(sdk.info, SOCKET_DIR)
    except OSError as exc:
        logger.warning(
            "coral sdk: no local endpoint (%s); the agent will not see %s", exc, sdk.service
        )
        return None


def current() -> Sdk | None:
    """The handle of the last `init`, or None."""
    return _process.current


def info() -> dict[str, object]:
    """The document the agent reads, evaluated now (component checks included)."""
    handle = _process.current
    if handle is None:
        raise RuntimeError("sdk.info: call sdk.init(service=...) first")
    return handle.info()


def shutdown() -> None:
    """Stop the endpoint and the check threads; idempotent."""
    with _process.lock:
        if _process.current is not None:
            _process.current.close()
            _process.current = None


def _after_fork_in_child() -> None:
    """A forked worker (gunicorn, uWSGI) gets its own endpoint under its own pid."""
    global _process
    old, _process = _process.current, _Process()
    _process.hooked = True
    if old is None:
        return
    if old.endpoint is not None:
        old.endpoint.abandon()
    renewed = Sdk(old.service, old.version, old.endpoints, old.build, old.components.renewed())
    if old.endpoint is not None:
        renewed.endpoint = _start_endpoint(renewed)
    _process.current = renewed
