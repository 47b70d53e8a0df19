"""`python -m coral_mcp.agent`: the agent in a lean process.

`coral agent start` validates its flags and config file, joins the mesh if asked, then
re-executes itself through this module (same pid, same arguments for `ps`) with the
settings in the environment (see `launch.py`), so that the long-running agent carries
neither the CLI nor what only other commands need, nor grpcio (its stream is grpclib's).
Python's `ssl` module (and OpenSSL with it, about 4 MB resident) is kept out unless the
agent will speak HTTPS or joined a mesh (TLS to its colony): asyncio and http.client work
without `ssl`. Set CORAL_AGENT_LEAN=0 to run `coral agent start` in place instead.
"""

from __future__ import annotations

import os
import sys

from coral_mcp.agent.launch import LAUNCH_ENV, decode_launch, needs_tls
from coral_mcp.errors import CoralError
from coral_mcp.mesh.agent_state import AgentMeshState


def main() -> None:
    text = os.environ.pop(LAUNCH_ENV, None)
    try:
        if text is None:
            raise CoralError(
                "the lean agent process takes its settings from `coral agent start`",
                hint="run `coral agent start ...`",
            )
        settings, log_level = decode_launch(text)
        state = AgentMeshState.load(settings.data_dir)
        if not needs_tls(settings) and not (state is not None and state.joined):
            sys.modules["ssl"] = None  # type: ignore[assignment]  # import ssl -> ImportError
        from coral_mcp.agent.daemon import AgentDaemon  # noqa: PLC0415 - after ssl is fenced
        from coral_mcp.agent.footprint import limit_malloc_arenas  # noqa: PLC0415
        from coral_mcp.log import configure_logging  # noqa: PLC0415
        from coral_mcp.runner import run_daemon  # noqa: PLC0415

        configure_logging(log_level)
        limit_malloc_arenas()
        run_daemon(AgentDaemon(settings).run)
    except CoralError as exc:
        hint = "" if exc.hint is None else f" ({exc.hint})"
        sys.stderr.write(f"Error: {exc.message}{hint}\n")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
