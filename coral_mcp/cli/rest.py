"""Finding a running colony (URL and token) and reading its REST API."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

from coral_mcp.cli.common import default_data_root
from coral_mcp.colony.auth import read_token
from coral_mcp.config import DEFAULT_HTTP_PORT

STATE_FILE = "colony.json"
TOKEN_ENV = "CORAL_TOKEN"


@dataclass(frozen=True, slots=True)
class ColonyAccess:
    url: str
    token: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def running_colony_url(colony_dir: Path) -> str | None:
    """The HTTP URL of the colony running on `colony_dir`, if one runs there: its state
    file names a live process, and that process is a Coral one (a pid can be reused)."""
    try:
        state = json.loads((colony_dir / STATE_FILE).read_text())
        pid = int(state["pid"])
        os.kill(pid, 0)
        url = str(state["http"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return url  # no /proc (macOS): the live pid is all we can check
    return url if any(_is_coral(arg) for arg in cmdline.split(b"\0")) else None


def _is_coral(arg: bytes) -> bool:
    """An argument that names Coral's program: the `coral` script or the package."""
    return arg.rsplit(b"/", 1)[-1] in (b"coral", b"coral-mcp") or arg.startswith(b"coral_mcp")


def locate(url: str | None, token: str | None, data_dir: Path | None) -> ColonyAccess:
    """--colony, else the colony running on the data dir, else the default port; the
    token from --token, else $CORAL_TOKEN, else the data dir's token file.

    The data dir's token goes only to the colony of that data dir: to an explicit
    --colony, or to whatever listens on the default port, it is never sent (a local
    process squatting the port would collect it).
    """
    colony_dir = (data_dir or default_data_root()) / "colony"
    own: str | None = None
    if url:
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            url = "http://" + url
    else:
        own = running_colony_url(colony_dir)
        url = own or f"http://127.0.0.1:{DEFAULT_HTTP_PORT}"
    stored = read_token(colony_dir) if own is not None or _is_own(url, colony_dir) else None
    return ColonyAccess(url, token or os.environ.get(TOKEN_ENV) or stored)


def _is_own(url: str, colony_dir: Path) -> bool:
    """An explicit URL that is the data dir's running colony."""
    return url == running_colony_url(colony_dir)


def colony_options(func: FC) -> FC:
    """--colony, --token and --data-dir, for commands that talk to a running colony."""
    func = click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Coral's data directory, to find a local colony and its token"
        " [default: ~/.local/share/coral].",
    )(func)
    func = click.option(
        "--token",
        default=None,
        help=f"The colony's HTTP token [default: ${TOKEN_ENV}, else the data dir's].",
    )(func)
    return click.option(
        "--colony",
        "colony_url",
        default=None,
        help="Colony HTTP URL [default: the colony running on --data-dir,"
        f" else http://127.0.0.1:{DEFAULT_HTTP_PORT}].",
    )(func)


def get_json(access: ColonyAccess, path: str) -> dict[str, Any]:
    import httpx2

    from coral_mcp.investigate.rest_colony import reply, unreachable

    try:
        response = httpx2.get(access.url + path, headers=access.headers, timeout=10.0)
    except httpx2.TransportError as exc:
        raise unreachable(access.url, exc) from None
    return reply(response, access.url)


def post_json(access: ColonyAccess, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    """POST `doc`; errors as get_json's."""
    import httpx2

    from coral_mcp.investigate.rest_colony import reply, unreachable

    try:
        response = httpx2.post(access.url + path, json=doc, headers=access.headers, timeout=10.0)
    except httpx2.TransportError as exc:
        raise unreachable(access.url, exc) from None
    return reply(response, access.url)
