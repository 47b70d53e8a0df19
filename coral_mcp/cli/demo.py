"""`coral demo`: Coral diagnosing a real application with a real fault, in about three
minutes, on this machine."""

from __future__ import annotations

import random
import signal
import time
from types import FrameType
from typing import TYPE_CHECKING

import click

from coral_mcp.demo.scenarios import SCENARIOS, Scenario

if TYPE_CHECKING:
    from coral_mcp.demo.stack import Diagnosis, Stack

#: Seconds of normal running before the fault: the colony's reference for "normal".
WARMUP_S = 60.0
#: Seconds after the fault by which the answer should be right.
DEADLINE_S = 75.0


def _list() -> None:
    width = max(len(n) for n in SCENARIOS)
    for s in SCENARIOS.values():
        click.echo(f"{s.name:<{width}}  root cause: {s.service:<8}  {s.description}")


def _interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option(
    "--scenario",
    type=click.Choice(sorted(SCENARIOS)),
    default=None,
    help="The fault to inject [default: a random one].",
)
@click.option(
    "--exit", "exit_after", is_flag=True, help="Stop everything once the answer is shown."
)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option(
    "--warmup",
    type=click.FloatRange(min=10),
    default=WARMUP_S,
    show_default=True,
    help="Seconds of normal running before the fault.",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=15),
    default=DEADLINE_S,
    show_default=True,
    help="Seconds after the fault to keep asking while the answer is not right.",
)
def demo(
    scenario: str | None, exit_after: bool, list_only: bool, warmup: float, deadline: float
) -> None:
    """See Coral diagnose a real application with a real fault, in about 3 minutes.

    Starts a shop (web -> api -> PostgreSQL + Redis, each its own process), a colony
    and one agent per service, and steady load; then injects a fault and shows Coral's
    diagnosis beside the ground truth. The agents are only told
    `--service NAME=port:N`. Intervals are accelerated (1 s samples, 2 s pushes) so
    that normal is learned in a minute. The colony stays up for questions (`coral ask`,
    MCP) until Ctrl-C, unless --exit. Needs PostgreSQL and Redis from the distribution
    (`apt-get install postgresql redis-server`).
    """
    if list_only:
        _list()
        return
    from coral_mcp.demo.stack import Stack, Timing

    chosen = SCENARIOS[scenario] if scenario else random.choice(list(SCENARIOS.values()))
    began = time.monotonic()

    def say(message: str) -> None:
        click.echo(f"[{time.monotonic() - began:5.0f}s] {message}")

    signal.signal(signal.SIGTERM, _interrupt)
    say(f"scenario {chosen.name}{'' if scenario else ' (picked at random)'}: {chosen.description}")
    stack = Stack(Timing(deadline_s=deadline), say)
    interrupted = False
    try:
        stack.start()
        say(f"learning what normal looks like for {warmup:.0f} s")
        reference = stack.run_normally(warmup)
        diagnosis = stack.diagnose(chosen, reference)
        _show(chosen, diagnosis)
        if not exit_after:
            _serve(stack)
    except KeyboardInterrupt:
        interrupted = True
        click.echo("\ninterrupted: stopping every process the demo started")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    click.echo(f"stopped; removed {stack.workdir}")
    if interrupted:
        raise SystemExit(130)


def _show(chosen: Scenario, diagnosis: Diagnosis) -> None:
    from coral_mcp.investigate import render

    click.echo("\n" + render.investigation(diagnosis.result) + "\n")
    v = diagnosis.verdict
    click.echo(f"Ground truth: {chosen.service}, {chosen.kinds[0]} ({chosen.change}).")
    if v.correct:
        click.echo(
            f"Coral was right: rank 1, confidence {v.confidence:.2f},"
            f" {diagnosis.seconds_to_correct:.0f} s after the fault."
        )
    else:
        where = f"the truth is at rank {v.rank}" if v.rank else "the truth is not among them"
        click.echo(f"Coral was not right this time: {v.reason}; {where}.")


def _serve(stack: Stack) -> None:
    from coral_mcp.cli.claude_desktop import claude_desktop_snippet

    d = stack.workdir
    dashboard = stack.dashboard_url()
    click.echo(
        f"\nThe colony stays up until Ctrl-C:\n"
        f"  MCP (streamable HTTP): {stack.mcp_url}\n"
        + (f"  Dashboard:             {dashboard}\n" if dashboard else "")
        + f"  HTTP token:            {stack.token}\n"
        f'  Ask it:                coral ask "what happened?" --data-dir {d}\n'
        f"  Claude Desktop (claude_desktop_config.json):\n{claude_desktop_snippet(d)}\n"
    )
    while True:
        time.sleep(3600)
