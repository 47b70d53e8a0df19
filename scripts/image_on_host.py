#!/usr/bin/env python3
"""Run the container image's commands on this host, as the image would run them.

Where no container daemon runs, this is the closest check of the image there is: the
Dockerfile's runtime ENV, USER and ENTRYPOINT + CMD, and the `docker run` / `docker exec`
lines of docs/deploy.md ("Containers"), are read from those files and run as written,
with the image's paths (/var/lib/coral, /var/lib/coral-agent, /opt/coral) moved under a
scratch directory:

1. the documented `colony init` (as the image's user, uid 10001);
2. the image's default command, ENTRYPOINT + CMD (uid 10001), until /healthz answers;
3. the documented `colony token create` (`docker exec`);
4. the documented agent `docker run`: as root holding only the capabilities it adds
   (`--cap-drop ALL --cap-add ...` becomes setpriv's bounding set, no new privileges),
   until the colony lists the agent.

`--build DIR` runs the build stage's RUN lines alone (`python -m venv /opt/coral`, pip
installs of requirements.lock and of Coral ...) with /opt/coral at DIR, from a copy of
what the Dockerfile COPYs, and
stops (it needs the network: run it outside the namespace); `--opt-coral DIR` then
runs the image's commands from that environment. Without it the `coral` beside this
Python stands in for /opt/coral/bin/coral.

The image's ports are fixed (9000-9002, 9010), so run it where they are free: in a
network namespace of its own, `unshare -n python scripts/image_on_host.py` (it brings
`lo` up). Needs root (setpriv to become uid 10001 and to drop capabilities). Prints one
JSON object with what each step gave; exits non-zero when a step failed. With
`--trace DIR` the colony and the agent run under `strace -f` (DIR/colony.trace,
DIR/agent.trace, from setpriv's own calls on: coral's begin at its `execve`), to
compare what they call with a sandbox's rules; `--strace ROLE=ARGS` adds strace
arguments for one of them, such as fault injection that plays a sandbox's refusals.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "coral/colony:0.1.0"
IMAGE_UID = 10001
WAIT_S = 120.0  # strace slows start-up several times


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined."""
    return re.sub(r"\\\n\s*", " ", text).splitlines()


def runtime_stage(dockerfile: str) -> dict[str, Any]:
    """ENV, USER, WORKDIR, ENTRYPOINT and CMD of the last stage; RUNs of the first."""
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    build, runtime = stages[0], stages[-1]
    env: dict[str, str] = {}
    found: dict[str, Any] = {"env": env}
    for line in _logical_lines(runtime):
        word, _, rest = line.partition(" ")
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(rest))
        elif word in ("USER", "WORKDIR"):
            found[word.lower()] = rest.strip()
        elif word in ("ENTRYPOINT", "CMD"):
            found[word.lower()] = json.loads(rest)
    found["build_runs"] = [line[4:] for line in _logical_lines(build) if line.startswith("RUN ")]
    return found


def documented_commands(deploy_md: str) -> dict[str, list[str]]:
    """The container commands of docs/deploy.md's "Containers" section, as argv lists."""
    section = deploy_md.split("## Containers", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    commands = [shlex.split(line) for b in blocks for line in _logical_lines(b) if line]
    found: dict[str, list[str]] = {}
    for argv in commands:
        if argv[:2] == ["docker", "exec"]:
            found["token"] = argv[3:]  # after the container name: the command itself
        elif argv[:2] == ["docker", "run"] and IMAGE in argv:
            at = argv.index(IMAGE)
            role = "agent" if argv[at + 1 : at + 2] == ["agent"] else "colony"
            key = f"{role}_run" if "-d" in argv[:at] else f"{role}_once"
            found[key] = argv
    return found


def image_args(run: list[str]) -> list[str]:
    """What a `docker run` line gives the ENTRYPOINT (the words after the image)."""
    return run[run.index(IMAGE) + 1 :]


def added_capabilities(run: list[str]) -> list[str]:
    return [run[i + 1].lower() for i, word in enumerate(run) if word == "--cap-add"]


class Host:
    def __init__(
        self,
        scratch: Path,
        coral_bin: Path,
        trace: Path | None = None,
        strace_args: dict[str, list[str]] | None = None,
    ) -> None:
        self.scratch = scratch
        self.coral_bin = coral_bin
        self.trace = trace
        self.strace_args = strace_args or {}
        self.procs: list[subprocess.Popen[bytes]] = []

    def traced(self, name: str, argv: list[str]) -> list[str]:
        """`argv` under `strace -f` (as root: it cannot stat a path the image's user
        cannot; the trace starts with setpriv's own calls, before it executes coral)."""
        if self.trace is None:
            return argv
        trace = str(self.trace / f"{name}.trace")
        extra = self.strace_args.get(name, [])
        return ["strace", "-f", "-qq", "-s", "1024", "-o", trace, *extra, *argv]

    def path(self, text: str) -> str:
        """The image's paths moved under the scratch directory."""

        def moved(found: re.Match[str]) -> str:
            image_path = found.group(0)
            if image_path == "/opt/coral/bin":
                return str(self.coral_bin)
            return f"{self.scratch}{image_path}"

        return re.sub(r"/var/lib/coral(?:-agent)?|/opt/coral/bin", moved, text)

    def env(self, image_env: dict[str, str]) -> dict[str, str]:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        env.update(
            {k: self.path(v).replace("$PATH", "/usr/bin:/bin") for k, v in image_env.items()}
        )
        env["HOME"] = self.path("/var/lib/coral")
        return env

    def as_image_user(self, argv: list[str]) -> list[str]:
        return ["setpriv", f"--reuid={IMAGE_UID}", f"--regid={IMAGE_UID}", "--clear-groups",
                "--no-new-privs", *argv]  # fmt: skip

    def as_root_with(self, caps: list[str], argv: list[str]) -> list[str]:
        keep = ",".join(["-all", *(f"+{c}" for c in caps)])
        return ["setpriv", f"--bounding-set={keep}", "--no-new-privs", *argv]

    def run(self, argv: list[str], env: dict[str, str], cwd: str) -> str:
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed: {done.stderr.strip()[-600:]}")
        return done.stdout

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: str) -> None:
        log = open(self.scratch / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs.append(subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=log,
                                           start_new_session=True))  # fmt: skip

    def log(self, name: str) -> str:
        return (self.scratch / f"{name}.log").read_text(errors="replace")[-1500:]

    def stop(self) -> None:
        """SIGTERM to each started process group (strace and what it traces), then wait."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs:
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                proc.poll()  # reap the leader; the traced daemon may outlive strace briefly
                time.sleep(0.1)
            if _group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


def _wait(what: str, check: Any) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {WAIT_S:.0f} s waiting for {what}")


def build_stage(stage: dict[str, Any], opt_coral: Path) -> None:
    """The build stage's RUNs, with /opt/coral at `opt_coral`, from a copy of /src."""
    with tempfile.TemporaryDirectory(prefix="coral-src-") as src_dir:
        src = Path(src_dir)
        for name in ("requirements.lock", "pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, src / name)
        shutil.copytree(ROOT / "coral_mcp", src / "coral_mcp",
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        for run in stage["build_runs"]:
            command = run.replace("/opt/coral", str(opt_coral))
            command = re.sub(r"^python ", f"{shlex.quote(sys.executable)} ", command)
            subprocess.run(["sh", "-c", command], cwd=src, check=True, timeout=1800)


def walk(host: Host, stage: dict[str, Any], docs: dict[str, list[str]]) -> dict[str, Any]:
    scratch, coral_bin = host.scratch, host.coral_bin
    report: dict[str, Any] = {"coral": str(coral_bin / "coral"), "user": stage["user"]}
    data = Path(host.path("/var/lib/coral"))
    data.mkdir(parents=True)
    os.chown(data, IMAGE_UID, IMAGE_UID)  # as the Dockerfile's RUN does
    data.chmod(0o700)
    env, cwd = host.env(stage["env"]), host.path(stage["workdir"])
    entry = [str(coral_bin / stage["entrypoint"][0]), *stage["entrypoint"][1:]]
    try:
        init = [host.path(a).replace("colony.example.net", "127.0.0.1")
                for a in image_args(docs["colony_once"])]  # fmt: skip
        report["init"] = host.run(host.as_image_user([*entry, *init]), env, cwd).strip()
        cmd = [host.path(a) for a in stage["cmd"]]
        report["colony_command"] = shlex.join(["coral", *cmd])
        host.start("colony", host.traced("colony", host.as_image_user([*entry, *cmd])), env, cwd)
        status = _wait("/healthz", lambda: _get("http://127.0.0.1:9010/healthz")[0] or None)
        report["healthz"] = status
        token_argv = [host.path(a) for a in docs["token"]]
        out = host.run(host.as_image_user([str(coral_bin / "coral"), *token_argv[1:]]), env, cwd)
        join = out.strip().splitlines()[-1]  # the command prints the token alone
        agent_run = docs["agent_run"]
        caps = added_capabilities(agent_run)
        agent_args = [host.path(a) for a in image_args(agent_run)]
        agent_args = [join if a == "TOKEN" else a for a in agent_args]
        report["agent_capabilities"] = caps
        agent = host.as_root_with(caps, [*entry, *agent_args])
        host.start("agent", host.traced("agent", agent), env, cwd)
        mcp_token = (data / "colony" / "mcp.token").read_text().strip()

        def listed() -> dict[str, Any] | None:
            status, body = _get("http://127.0.0.1:9010/api/v1/agents", mcp_token)
            doc = json.loads(body) if status == 200 else {}
            return doc if doc.get("count") else None

        agents = _wait("the colony to list the agent", listed)
        report["agents"] = [a.get("state") for a in agents["agents"]]
        report["colony_files"] = sorted(p.name for p in (data / "colony").iterdir())
        report["ok"] = True
    except (RuntimeError, OSError, KeyError, IndexError) as exc:
        report["ok"] = False
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["colony_log"] = host.log("colony") if (scratch / "colony.log").exists() else ""
        report["agent_log"] = host.log("agent") if (scratch / "agent.log").exists() else ""
    finally:
        host.stop()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, metavar="DIR",
                        help="only run the build stage's RUN, /opt/coral at DIR")  # fmt: skip
    parser.add_argument("--opt-coral", type=Path, metavar="DIR",
                        help="/opt/coral is DIR (made with --build)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--trace", type=Path, help="run colony and agent under strace -f here")
    parser.add_argument("--strace", action="append", default=[], metavar="ROLE=ARGS",
                        help="more strace arguments for colony or agent, e.g. fault"
                        " injection: colony='-e inject=mbind:error=EPERM'")  # fmt: skip
    args = parser.parse_args()
    stage = runtime_stage((ROOT / "Dockerfile").read_text())
    if args.build is not None:
        build_stage(stage, args.build.resolve())
        return 0
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        print(json.dumps({"ok": False, "error": "needs root and setpriv(1)"}))
        return 2
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False, capture_output=True)
    docs = documented_commands((ROOT / "docs" / "deploy.md").read_text())
    scratch = Path(tempfile.mkdtemp(prefix="coral-image-"))
    scratch.chmod(0o755)  # the image's user must reach its directories inside
    try:
        coral_bin = args.opt_coral / "bin" if args.opt_coral else Path(sys.executable).parent
        extra = {
            role: shlex.split(more) for role, _, more in (s.partition("=") for s in args.strace)
        }
        report = walk(Host(scratch, coral_bin, args.trace, extra), stage, docs)
        report["scratch"] = str(scratch)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(report))
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
