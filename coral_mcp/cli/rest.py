"""Finding a running colony (URL and token) and reading its REST API."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from click.decorators import FC

from coral_mcp.cli.common import colony_dir, data_dir_option, data_root
from coral_mcp.colony.auth import TOKEN_FILE, read_token
from coral_mcp.colony.running import STATE_FILE, read_running
from coral_mcp.errors import ColonyUnreachableError, ConfigError, QueryError

TOKEN_ENV = "CORAL_TOKEN"


@dataclass(frozen=True, slots=True)
class ColonyAccess:
    """Which colony a command talks to, with what token, and why that one."""

    url: str
    token: str | None
    #: Why this colony: "--colony" or the data dir it runs on (said in every error).
    source: str
    #: Where the token came from ("--token", "$CORAL_TOKEN", a file), or None.
    token_source: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def named(self) -> str:
        """ "the colony at URL (why)", for messages."""
        return f"the colony at {self.url} ({self.source})"

    def refused(self) -> ColonyUnreachableError:
        """The error for an HTTP 401 from this colony, with how to fix it."""
        sent = f"the token from {self.token_source}" if self.token else "no token"
        return ColonyUnreachableError(
            f"{self.named} answered 401 Unauthorized to {sent}",
            hint="pass its token with --token or $CORAL_TOKEN, or the colony's --data-dir;"
            " `coral colony token show --mcp` on its host prints it",
        )


def colony_url(value: str) -> str:
    """A --colony value as an http(s) URL; ConfigError when it cannot be one."""
    url = value.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        from coral_mcp.config import DEFAULT_HTTP_PORT  # ~0.05 s: for the error only

        raise ConfigError(
            f"--colony {value!r} is not a colony URL",
            hint=f"give its HTTP address, e.g. http://127.0.0.1:{DEFAULT_HTTP_PORT}",
        )
    return url


def locate(url: str | None, token: str | None, data_dir: Path | None) -> ColonyAccess:
    """--colony, else the colony running on the data dir (never a guess); the token from
    --token, else $CORAL_TOKEN, else the data dir's token file.

    The data dir's token goes only to the colony of that data dir: to a --colony that is
    another one it is never sent (a local process squatting a port would collect it).
    """
    colony_home = colony_dir(data_dir)
    running = read_running(colony_home)
    if url:
        found, source = colony_url(url), "given by --colony"
    else:
        if running is None:
            raise ColonyUnreachableError(
                f"no colony is running on data dir {data_root(data_dir)}"
                f" ({_why_not_running(colony_home)})",
                hint="start one there with `coral up` or `coral colony start`"
                " (same --data-dir), or name another with --colony URL and --token",
            )
        found, source = running.http_url, f"running on data dir {data_root(data_dir)}"
    if token:
        return ColonyAccess(found, token, source, "--token")
    if from_env := os.environ.get(TOKEN_ENV):
        return ColonyAccess(found, from_env, source, f"${TOKEN_ENV}")
    if running is None or found != running.http_url.rstrip("/"):
        return ColonyAccess(found, None, source)
    from_file = read_token(colony_home)
    return ColonyAccess(found, from_file, source, str(colony_home / TOKEN_FILE))


def _why_not_running(colony_home: Path) -> str:
    if not colony_home.exists():
        return f"{colony_home} does not exist"
    if (colony_home / STATE_FILE).exists():
        return f"the process named in {colony_home / STATE_FILE} is gone"
    return f"{colony_home / STATE_FILE} is missing: no colony is up there now"


def colony_options_for(colony_default: str) -> Callable[[FC], FC]:
    """--colony, --token and --data-dir; `colony_default` says what happens without --colony."""

    def decorate(func: FC) -> FC:
        func = data_dir_option(func)
        func = click.option(
            "--token",
            default=None,
            help=f"The colony's HTTP token [default: ${TOKEN_ENV}, else the data dir's].",
        )(func)
        return click.option(
            "--colony",
            "colony_url",
            default=None,
            help=f"Colony HTTP URL [default: {colony_default}].",
        )(func)

    return decorate


#: For commands that talk to a running colony.
colony_options = colony_options_for("the colony running on --data-dir")


def get_json(access: ColonyAccess, path: str) -> dict[str, Any]:
    """GET `path` from the colony as a dict; unreachable, refused and failed said in one line."""
    return _request(access, "GET", path, None)


def post_json(access: ColonyAccess, path: str, doc: dict[str, Any]) -> dict[str, Any]:
    """POST `doc`; errors as get_json's."""
    return _request(access, "POST", path, doc)


def _request(
    access: ColonyAccess, method: str, path: str, doc: dict[str, Any] | None
) -> dict[str, Any]:
    from coral_mcp.investigate.rest_colony import ColonyHttp

    http = ColonyHttp(access.url, access.headers, timeout_s=10.0, named=access.named)
    try:
        status, body = http.request(method, path, doc=doc)
    finally:
        http.close()
    if status == 401:
        raise access.refused()
    if status >= 400:
        raise QueryError(str(body.get("error", status)), hint=body.get("hint"))
    return body
