"""Keeping the agent process small.

glibc gives each thread that allocates its own malloc arena (up to 8 per core), and
each arena holds on to freed memory. The agent's few threads (the event loop, the
sampling worker, the health checks) allocate little, so two arenas are plenty; the limit
must be set before those threads start. After each sample the freed heap is given back
(`malloc_trim`). Both are no-ops where glibc is absent. What start-up made and keeps
for the process's life (modules, classes, caches) is moved out of the garbage
collector's sight once the first cycle is done (`settle_heap`).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The process's C library, opened once."""
    try:
        return ctypes.CDLL(None)  # the process's own symbols, libc's among them
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc malloc arenas; True when the cap was set."""
    libc = _libc()
    try:
        return libc is not None and bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except AttributeError:
        logger.debug("mallopt is not available; malloc arenas left as they are")
        return False


def release_free_memory() -> None:
    """Give memory freed since the last call back to the OS (glibc `malloc_trim`).

    A sample builds and drops many small objects (psutil's connection list, the process
    table); without a trim, the heap keeps its high-water mark resident.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def settle_heap() -> None:
    """Collect once, then freeze what is left (`gc.freeze`): the objects made at start
    (tens of thousands: modules, classes, protobuf descriptors, the first sample's
    caches) live as long as the process, and each full collection would otherwise walk
    them all again. Garbage made later is collected as before."""
    gc.collect()
    gc.freeze()
