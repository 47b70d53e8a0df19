"""The whole demo on one machine: the shop, its stores, load, a colony and one agent per
service, each a separate process; faults injected and healed on demand; Coral asked.

`Stack` is a context manager: leaving it (normally, on an error or on Ctrl-C) stops
every process it started and removes its temporary directory. The agents are given
`--service NAME=port:N` and nothing else about the application, with accelerated
intervals (`Timing`) so that a baseline forms in a minute instead of an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from coral_mcp.demo.processes import Children
from coral_mcp.demo.scenarios import Scenario, Verdict, judge
from coral_mcp.demo.stores import (
    Postgres,
    Redis,
    check_installed,
    free_port,
    get_item_sql,
    wait_port,
)
from coral_mcp.errors import ConfigError
from coral_mcp.investigate.colony_client import ColonyClient

logger = logging.getLogger(__name__)

#: The release running before any fault, and the one a faulty deploy brings.
GOOD_RELEASE = "1.4.2"
BAD_RELEASE = "1.5.0"
SERVICES = ("web", "api", "postgres", "redis")


@dataclass(frozen=True, slots=True)
class Timing:
    """Accelerated intervals: production defaults are 10 s samples, 15 s pushes and
    30 s socket scans; the demo samples every second and pushes every two."""

    #: Seconds between an agent's samples (`coral agent start --interval`).
    interval_s: float = 1.0
    #: Seconds between an agent's pushes to the colony (`--push`).
    push_s: float = 2.0
    #: Seconds between an agent's full socket scans (`--socket-scan`).
    socket_scan_s: float = 2.0
    #: Requests per second of the load generator.
    rate_per_s: float = 12.0
    #: Seconds after a fault before Coral is first asked.
    first_look_s: float = 15.0
    #: Seconds between questions while the answer is not yet right.
    poll_s: float = 5.0
    #: Seconds after a fault by which the right answer must have come.
    deadline_s: float = 75.0


@dataclass(slots=True)
class Diagnosis:
    """One fault injected and what Coral answered about it."""

    scenario: Scenario | None
    #: When the fault was injected (or, with no fault, when the question was asked).
    injected_at: datetime
    #: Start of the investigated range (normal running before the fault).
    reference_start: datetime
    verdict: Verdict
    #: Seconds from the fault to the first right answer (None: not right by the deadline).
    seconds_to_correct: float | None
    #: The investigation (the MCP tool's structured result) the verdict is about.
    result: dict[str, Any]
    questions: int = 0
    history: list[tuple[float, Verdict]] = field(default_factory=list)
    #: The end of the range of each question asked (RFC 3339), as the colony resolved it.
    asked: list[str] = field(default_factory=list)


Say = Callable[[str], None]


def _quiet(_message: str) -> None:
    """No progress output."""


class Stack:
    def __init__(
        self, timing: Timing | None = None, say: Say = _quiet, keep: Path | None = None
    ) -> None:
        self.timing = timing or Timing()
        self.say = say
        #: Where each scenario's colony data is kept (None: removed with the rest).
        self.keep = keep
        self._case: dict[str, Any] | None = None
        self._kept = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="coral-demo-"))
        self.children = Children(self.workdir)
        self.ports: dict[str, int] = {}
        self.colony_url = ""
        self.mcp_url = ""
        self.token = ""
        self._api_release = GOOD_RELEASE
        self._api_defect = ""
        #: Set when the api stops being supervised (restarted when it exits).
        self._unsupervised = threading.Event()
        self._api_lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self.api_exits = 0
        #: How many times Coral (colony and agents) was started afresh.
        self._generation = 0
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None

    # -- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        check_installed()
        self.workdir.chmod(0o755)  # PostgreSQL's own user must reach its data dir
        self.say(f"working directory {self.workdir}")
        self._start_colony()
        self.say(f"colony up: {self.colony_url} (MCP {self.mcp_url})")
        self._start_stores()
        self.say(
            f"PostgreSQL on 127.0.0.1:{self.ports['postgres']}, "
            f"Redis on 127.0.0.1:{self.ports['redis']}"
        )
        self._start_shop()
        self.say(
            f"shop up: web 127.0.0.1:{self.ports['web']} -> api 127.0.0.1:{self.ports['api']}"
            f" (release {GOOD_RELEASE})"
        )
        self._start_agents()
        self.say("4 agents started, one per service, each given only --service NAME=port:N")
        self.children.start(
            "load",
            [
                sys.executable, "-m", "coral_mcp.demo.load",
                "--url", f"http://127.0.0.1:{self.ports['web']}",
                "--rate", str(self.timing.rate_per_s), "--stats", str(self.workdir / "load.json"),
            ],
        )  # fmt: skip
        self._wait_services_seen()
        self.say(f"load: {self.timing.rate_per_s:g} requests/s; all 4 services seen by the colony")

    def close(self) -> None:
        self._unsupervised.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        self.children.stop_all()
        self._keep_case()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- parts ----------------------------------------------------------------------

    def _coral(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "coral_mcp", *args]

    def _start_colony(self) -> None:
        data = self.workdir / self._coral_name("colony")
        proc = self.children.start(
            self._coral_name("colony"),
            self._coral(
                "colony", "start", "--data-dir", str(data), "--grpc-port", "0", "--http-port", "0"
            ),
        )
        state = self._wait_file(data / "colony" / "colony.json", proc, self._coral_name("colony"))
        doc = json.loads(state.read_text())
        self.ports["colony_grpc"] = int(str(doc["grpc"]).rsplit(":", 1)[1])
        self.colony_url = str(doc["http"])
        self.mcp_url = str(doc["mcp"])
        token = self._wait_file(data / "colony" / "mcp.token", proc, self._coral_name("colony"))
        self.token = token.read_text().strip()
        self.ports["colony_http"] = int(self.colony_url.rsplit(":", 1)[1])

    def _coral_name(self, part: str) -> str:
        """`colony`, `agent-api`, ... of the current generation of Coral processes."""
        return self._coral_name_of(self._generation, part)

    @staticmethod
    def _coral_name_of(generation: int, part: str) -> str:
        return part if not generation else f"{part}-{generation}"

    def _keep_case(self, colony: str | None = None) -> None:
        """Move the last scenario's colony data (its DuckDB file) under `keep`, with
        what was injected when and when Coral was asked: a recorded live case that
        `benchmarks/demo_replay.py` investigates again offline."""
        case, self._case = self._case, None
        if self.keep is None or case is None:
            return
        source = self.workdir / (colony or self._coral_name("colony")) / "colony"
        self._kept += 1
        target = self.keep / f"{self._kept:02d}-{case['scenario']}"
        with contextlib.suppress(OSError):
            target.mkdir(parents=True, exist_ok=True)
            for name in ("colony.duckdb", "colony.duckdb.wal"):
                if (source / name).exists():
                    shutil.copy2(source / name, target / name)
            (target / "case.json").write_text(json.dumps(case, indent=2))
            self.say(f"kept {target}")

    def _wait_file(self, path: Path, proc: Any, name: str, timeout_s: float = 60) -> Path:
        deadline = time.monotonic() + timeout_s
        while not path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"{name} did not start: {self.children.log_tail(name)}")
            time.sleep(0.1)
        return path

    def _start_stores(self) -> None:
        self.postgres = Postgres(self.children, self.workdir)
        self.postgres.init()
        self.postgres.start()
        self.postgres.create_schema()
        self.redis = Redis(self.children, self.workdir)
        self.redis.start()
        self.ports["postgres"], self.ports["redis"] = self.postgres.port, self.redis.port

    def _start_shop(self) -> None:
        self.ports["api"], self.ports["web"] = free_port(), free_port()
        self._start_api()
        web = self.children.start(
            "web",
            [
                sys.executable, "-m", "coral_mcp.demo.shop", "web",
                "--port", str(self.ports["web"]), "--release", GOOD_RELEASE,
                "--api", f"http://127.0.0.1:{self.ports['api']}",
            ],
        )  # fmt: skip
        if not wait_port(self.ports["web"], 30, web):
            raise ConfigError(f"web did not start: {self.children.log_tail('web')}")
        self._supervisor = threading.Thread(target=self._supervise_api, daemon=True)
        self._supervisor.start()

    def _start_api(self) -> None:
        assert self.postgres is not None and self.redis is not None
        api = self.children.start(
            "api",
            [
                sys.executable, "-m", "coral_mcp.demo.shop", "api",
                "--port", str(self.ports["api"]), "--release", self._api_release,
                "--pg", self.postgres.dsn, "--redis", self.redis.url,
            ],
            env={"SHOP_DEFECT": self._api_defect, "APP_VERSION": self._api_release},
        )  # fmt: skip
        if not wait_port(self.ports["api"], 30, api) and self._api_defect != "crash":
            raise ConfigError(f"api did not start: {self.children.log_tail('api')}")

    def _supervise_api(self) -> None:
        """Restart api one second after it exits, as a service manager would (a look
        every 0.2 s until close)."""
        while not self._unsupervised.wait(0.2):
            proc = self.children.get("api")
            if proc is None or proc.poll() is None:
                continue
            self.api_exits += 1
            time.sleep(1.0)
            with self._api_lock:
                if not self._unsupervised.is_set() and self.children.get("api") is proc:
                    self._start_api()

    def _start_agents(self) -> None:
        t = self.timing
        for name in SERVICES:
            self.children.start(
                self._coral_name(f"agent-{name}"),
                self._coral(
                    "agent", "start",
                    "--colony", f"127.0.0.1:{self.ports['colony_grpc']}",
                    "--service", f"{name}=port:{self.ports[name]}",
                    "--interval", str(t.interval_s), "--push", str(t.push_s),
                    "--socket-scan", str(t.socket_scan_s),
                    "--data-dir", str(self.workdir / self._coral_name(f"agent-{name}")),
                    "--colony-token-file",
                    str(self.workdir / self._coral_name("colony") / "colony" / "mcp.token"),
                ),
            )  # fmt: skip

    def fresh_coral(self) -> None:
        """Replace the colony and agents with new ones (new data), the shop running on:
        the next diagnosis knows nothing of the faults before it."""
        old = [self._coral_name(f"agent-{name}") for name in SERVICES]
        old.append(self._coral_name("colony"))
        stopping = threading.Thread(target=self.children.stop_many, args=(old,), daemon=True)
        stopping.start()  # the old ones end while the new ones start
        self._generation += 1
        self._start_colony()
        self._start_agents()
        stopping.join()
        self._keep_case(self._coral_name_of(self._generation - 1, "colony"))
        self._wait_services_seen()
        self.say(f"fresh colony and agents: {self.colony_url}")

    def _wait_services_seen(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            seen = {s["name"] for s in self.call("list_services", {"limit": 50})["services"]}
            if set(SERVICES) <= seen:
                return
            if time.monotonic() > deadline:
                raise ConfigError(f"the colony saw only {sorted(seen)} after {timeout_s:.0f} s")
            time.sleep(0.5)

    # -- the colony -----------------------------------------------------------------

    def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call one of the colony's MCP tools (the official MCP client, bearer token)."""

        async def run() -> dict[str, Any]:
            async with ColonyClient(self.colony_url, self.token) as client:
                return await client.call(tool, arguments)

        return asyncio.run(run())

    def investigate(self, start: datetime) -> dict[str, Any]:
        return self.call("investigate", {"question": "what happened?", "start": start.isoformat()})

    def dashboard_url(self) -> str | None:
        """The colony's web dashboard, when this colony serves one (an HTML page)."""
        for path in ("/dashboard/", "/"):
            request = urllib.request.Request(
                self.colony_url + path, headers={"Authorization": f"Bearer {self.token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.headers.get_content_type() == "text/html":
                        return self.colony_url + path
            except (OSError, urllib.error.URLError):
                continue
        return None

    def traffic(self) -> dict[str, float]:
        """The load generator's last five seconds: rate, error share, p95 latency."""
        try:
            return dict(json.loads((self.workdir / "load.json").read_text()))
        except (OSError, ValueError):
            return {}

    # -- faults ---------------------------------------------------------------------

    def deploy_api(self, release: str, defect: str = "") -> None:
        with self._api_lock:
            self._api_release, self._api_defect = release, defect
            self.children.stop("api")
            self._start_api()

    def _admin(self, fault: str) -> None:
        url = f"http://127.0.0.1:{self.ports['api']}/admin/fault/{fault}"
        request = urllib.request.Request(url, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def inject(self, scenario: Scenario) -> None:
        assert self.postgres is not None
        name = scenario.name
        if name == "memory_leak":
            self.deploy_api(BAD_RELEASE, "leak")
        elif name == "bad_deploy":
            self.deploy_api(BAD_RELEASE, "errors")
        elif name == "crash_loop":
            self.deploy_api(GOOD_RELEASE, "crash")
        elif name == "dependency_down":
            self.postgres.stop()
        elif name == "cpu_saturation":
            self._admin("cpu")
        elif name == "latency":
            self.postgres.execute(get_item_sql(0.25))
        elif name == "connection_leak":
            self._admin("connection_leak")
        else:
            raise ConfigError(f"no fault named {name!r}")

    def heal(self, scenario: Scenario) -> None:
        """Undo a fault (the shared application of the end-to-end suite goes on)."""
        assert self.postgres is not None
        name = scenario.name
        if name in ("memory_leak", "bad_deploy", "crash_loop"):
            self.deploy_api(GOOD_RELEASE)
        elif name == "dependency_down":
            self.postgres.start()
        elif name in ("cpu_saturation", "connection_leak"):
            with contextlib.suppress(OSError, urllib.error.URLError):
                self._admin("off")
        elif name == "latency":
            self.postgres.execute(get_item_sql(0.0))

    def diagnose(self, scenario: Scenario | None, reference_start: datetime) -> Diagnosis:
        """Inject the fault (if any), then ask Coral until it is right or time is up."""
        t = self.timing
        if scenario is not None:
            self.inject(scenario)
        injected = datetime.now(UTC)
        started = time.monotonic()
        self.say(f"fault injected: {scenario.change}" if scenario else "no fault injected")
        diagnosis: Diagnosis | None = None
        wait_s = t.first_look_s
        while True:
            self._wait(started + wait_s)
            result = self.investigate(reference_start)
            elapsed = time.monotonic() - started
            verdict = judge(scenario, result)
            if diagnosis is None:
                diagnosis = Diagnosis(scenario, injected, reference_start, verdict, None, result)
            diagnosis.verdict, diagnosis.result = verdict, result
            diagnosis.questions += 1
            diagnosis.history.append((round(elapsed, 1), verdict))
            diagnosis.asked.append(str(result.get("end", "")))
            top = verdict.top[0] if verdict.top else "no significant anomaly"
            self.say(f"asked Coral after {elapsed:.0f} s: {top}")
            if verdict.correct and scenario is not None:
                diagnosis.seconds_to_correct = round(elapsed, 1)
                return diagnosis
            if scenario is None or elapsed + t.poll_s > t.deadline_s:
                return diagnosis
            wait_s = elapsed + t.poll_s

    def _wait(self, until_monotonic: float) -> None:
        """Sleep until then, saying how the traffic looks every ten seconds."""
        last = 0.0
        while (left := until_monotonic - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))
            if time.monotonic() - last >= 10 and left > 2:
                last = time.monotonic()
                self.say(self.traffic_line())

    def traffic_line(self) -> str:
        s = self.traffic()
        if not s:
            return "traffic: starting"
        return (
            f"traffic: {s['rate_per_s']:.0f} req/s, {s['error_share'] * 100:.0f}% errors,"
            f" p95 {s['p95_ms']:.0f} ms"
        )

    def run_normally(self, seconds: float) -> datetime:
        """Let the application run normally; returns when that stretch began."""
        begun = datetime.now(UTC)
        self._wait(time.monotonic() + seconds)
        return begun

    def run_scenario(
        self, scenario: Scenario | None, reference_s: float, settle_s: float, fresh: bool
    ) -> Diagnosis:
        """Normal running for reference_s (with a fresh colony and agents first when
        `fresh`), the fault and Coral's answers, the fault healed and settle_s more
        seconds for the application to recover (healed even on error)."""
        if fresh:
            self.fresh_coral()
        reference = self.run_normally(reference_s)
        try:
            d = self.diagnose(scenario, reference)
            self._case = {
                "scenario": scenario.name if scenario else "no_fault",
                "reference_start": reference.isoformat(),
                "injected_at": d.injected_at.isoformat(),
                "asked": d.asked,
                "correct": d.verdict.correct,
                "seconds_to_correct": d.seconds_to_correct,
            }
            return d
        finally:
            if scenario is not None:
                self.heal(scenario)
                self.say(f"fault healed: {scenario.name}")
            self.run_normally(settle_s)
