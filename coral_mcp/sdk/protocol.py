"""What the SDK and the agent agree on: where the endpoint is and what it answers.

The SDK listens on a Unix socket named after the process id in `/tmp`
(`/tmp/coral-sdk-<pid>.sock`, the pid as the process itself sees it). The agent, which
already knows the pids of every service it watches, looks for
`/proc/<pid>/root/tmp/coral-sdk-<nspid>.sock`: through `/proc/<pid>/root` it reaches the
process's own filesystem view, so the same lookup works for a plain process, a systemd
unit with `PrivateTmp=yes` and a container, with no port to allocate and nothing to
configure. The JVM attach API (`/tmp/.java_pid<pid>`) and .NET's diagnostic port
(`/tmp/dotnet-diagnostic-<pid>-…-socket`) are found the same way.

One request exists: `GET /coral/v1/info`, answered with a JSON document:

    {"schema": 1, "service": "api", "version": "2.1.0", "pid": 123,
     "build": {"commit": "…", "branch": "…", "build_time": "…", "language": "python 3.11.9"},
     "endpoints": {"metrics": "http://127.0.0.1:8000/metrics"},
     "components": {"db": {"healthy": true, "detail": "", "latency_ms": 0.4}}}
"""

from __future__ import annotations

from pathlib import Path

SCHEMA = 1
SOCKET_DIR = Path("/tmp")
INFO_PATH = "/coral/v1/info"
#: Largest info document either side accepts, in bytes.
MAX_INFO_BYTES = 64 * 1024


_PREFIX, _SUFFIX = "coral-sdk-", ".sock"
#: Every SDK socket's file name matches this pattern.
SOCKET_PATTERN = f"{_PREFIX}*{_SUFFIX}"


def socket_name(pid: int) -> str:
    """File name of the SDK socket of the process whose own pid is `pid`."""
    return f"{_PREFIX}{pid}{_SUFFIX}"


def socket_pid(name: str) -> int | None:
    """The pid an SDK socket's file name was made for (None: not such a name)."""
    digits = name.removeprefix(_PREFIX).removesuffix(_SUFFIX)
    return int(digits) if name.startswith(_PREFIX) and digits.isdigit() else None
