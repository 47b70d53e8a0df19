"""Keeping the agent process small.

glibc gives each thread that allocates its own malloc arena (up to 8 per core), and
each arena holds on to freed memory. The agent's few threads (the event loop, the
sampling worker, gRPC's pollers) allocate little, so two arenas are plenty; the limit
must be set before those threads start. A no-op where glibc's `mallopt` is absent.
"""

from __future__ import annotations

import ctypes
import logging

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc malloc arenas; True when the cap was set."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc's among them
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        logger.debug("mallopt is not available; malloc arenas left as they are")
        return False
