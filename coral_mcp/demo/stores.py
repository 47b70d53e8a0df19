"""Private PostgreSQL and Redis instances for the demo, from the Debian packages.

Each runs on a free loopback port with its data inside the demo's temporary directory;
no system instance is used or touched. PostgreSQL refuses to run as root, so when the
demo runs as root the cluster belongs to the unprivileged `postgres` user that the
Debian package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from coral_mcp.demo.processes import Children
from coral_mcp.errors import ConfigError

INSTALL_HINT = (
    "install them: apt-get install -y --no-install-recommends postgresql redis-server"
    " (make test does this)"
)
PG_USER = "shop"
PG_DATABASE = "shop"

SCHEMA = """
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price_cents integer NOT NULL);
INSERT INTO items SELECT i, 'item ' || i, 100 + (i * 37) % 9000 FROM generate_series(1, 500) i;
CREATE TABLE orders (id bigserial PRIMARY KEY, item_id integer NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now());
"""

#: The function behind every item lookup; the latency fault redefines it.
GET_ITEM = """
CREATE OR REPLACE FUNCTION shop_get_item(item integer)
RETURNS TABLE (id integer, name text, price_cents integer) LANGUAGE sql AS $$
  {delay}SELECT id, name, price_cents FROM items WHERE id = item
$$;
"""


def get_item_sql(delay_s: float = 0.0) -> str:
    delay = f"SELECT pg_sleep({delay_s});\n  " if delay_s > 0 else ""
    return GET_ITEM.format(delay=delay)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """True once 127.0.0.1:port accepts a connection (False on timeout or exit)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory."""

    def version(path: str) -> int:
        name = Path(path).parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise ConfigError("PostgreSQL is not installed", hint=INSTALL_HINT)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise ConfigError("redis-server is not installed", hint=INSTALL_HINT)
    return found


def check_installed() -> None:
    """Raise ConfigError with the install command when a store is missing."""
    postgres_bindir()
    redis_binary()


@dataclass(frozen=True, slots=True)
class RunAs:
    uid: int | None
    gid: int | None


def postgres_user() -> RunAs:
    """Who runs PostgreSQL: ourselves, or `postgres` when we are root."""
    if os.geteuid() != 0:
        return RunAs(None, None)
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise ConfigError(
            "running as root, and there is no unprivileged `postgres` user to run PostgreSQL",
            hint="install the postgresql package, or run the demo as an ordinary user",
        ) from None
    return RunAs(entry.pw_uid, entry.pw_gid)


class Postgres:
    """A PostgreSQL cluster of our own: initdb'd once, started and stopped on demand."""

    def __init__(self, children: Children, root: Path) -> None:
        self._children = children
        self.datadir = root / "postgres"
        self.port = free_port()
        self._bindir = postgres_bindir()
        self._as = postgres_user()

    @property
    def dsn(self) -> str:
        return self._dsn(PG_DATABASE)

    def _dsn(self, database: str) -> str:
        where = f"host=127.0.0.1 port={self.port} user={PG_USER}"
        return f"{where} dbname={database} connect_timeout=2"

    def init(self) -> None:
        self.datadir.mkdir(mode=0o700)
        if self._as.uid is not None:
            os.chown(self.datadir, self._as.uid, self._as.gid or -1)
        cmd = [str(self._bindir / "initdb"), "-D", str(self.datadir), "-U", PG_USER]
        cmd += ["--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]
        proc = self._children.start("initdb", cmd, uid=self._as.uid, gid=self._as.gid)
        if proc.wait(timeout=120) != 0:
            raise ConfigError(f"initdb failed: {self._children.log_tail('initdb')}")

    def start(self) -> None:
        cmd = [str(self._bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        for setting in (
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            "max_connections=300",
            "shared_buffers=16MB",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ):
            cmd += ["-c", setting]
        proc = self._children.start("postgres", cmd, uid=self._as.uid, gid=self._as.gid)
        if not wait_port(self.port, 30, proc):
            raise ConfigError(f"PostgreSQL did not start: {self._children.log_tail('postgres')}")
        self._ready()

    def _ready(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(self._dsn("postgres"), autocommit=True):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ConfigError(f"PostgreSQL does not answer: {exc}") from None
                time.sleep(0.2)

    def create_schema(self) -> None:
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute(get_item_sql())

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are ended, the cluster stays on disk."""
        self._children.stop("postgres", signal.SIGINT, timeout_s=20)


class Redis:
    """A Redis server of our own, in memory only."""

    def __init__(self, children: Children, root: Path) -> None:
        self._children = children
        self.dir = root / "redis"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(exist_ok=True)
        cmd = [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        cmd += ["--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"]
        proc = self._children.start("redis", cmd)
        if not wait_port(self.port, 20, proc):
            raise ConfigError(f"Redis did not start: {self._children.log_tail('redis')}")
