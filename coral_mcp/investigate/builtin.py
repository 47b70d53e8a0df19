"""The `builtin` provider: answers from the colony's tools with no LLM, deterministically.

It recognises what a question asks for by its words, calls the tools that answer it,
and renders their results, the answer first:

    what happened? / why is X slow? / X is failing   -> investigate (around X)
    compare now with before / is X normal?           -> get_service X (vs baselines), or
                                                        find_anomalies for all services
    what changed? / any deploys or restarts?         -> get_events (changes)
    is X healthy? / how is X?                        -> get_service X
    what depends on X? / what does X call?           -> get_topology around X
    what is running?                                 -> list_services
    show me the topology                             -> get_topology

Questions it does not recognise get an overview (services and topology) and a note on
what it can answer. A follow-up (`--continue`) that names no service keeps the service
the previous answer was about.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from coral_mcp.investigate import render


class ToolCaller(Protocol):
    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]: ...


@dataclass(slots=True)
class Answer:
    question: str
    intent: str
    text: str
    provider: str = "builtin"
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The service the answer is about, if one: what a follow-up inherits.
    focus: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "provider": self.provider,
            "intent": self.intent,
            "answer": self.text,
            "focus": self.focus,
            "tools": self.tools,
        }


_INCIDENT = re.compile(
    r"\b(happen\w*|wrong|why|slow\w*|errors?|fail\w*|broke\w*|incident|investigat\w*"
    r"|problems?|issues?|crash\w*|cause\w*|outage|degrad\w*|latency|leak\w*|root)\b"
)
_COMPARE = re.compile(r"\b(compar\w*|before|usual\w*|normal\w*|baselines?|yesterday|differ\w*)\b")
_CHANGES = re.compile(r"\b(chang\w*|deploy\w*|restart\w*|releas\w*|rollouts?|versions?|new)\b")
_HEALTH = re.compile(r"\b(health\w*|ok|okay|fine|alive|up|down|status|how is|how's)\b")
_DEPENDS = re.compile(
    r"\b(depend\w*|calls?|talks?|connect\w*|upstream|downstream|uses|neighbou?r\w*)\b"
)
_TOPOLOGY = re.compile(r"\b(topolog\w*|graph|edges?|map)\b")
_SERVICES = re.compile(r"\b(running|services?|process\w*|what runs|list)\b")

CHANGE_KINDS = ["deploy", "version_change", "restart", "crash", "oom_kill", "health_flip"]
#: Events shown with an incident's answer as what changed.
INCIDENT_CHANGES = ["deploy", "restart", "crash", "oom_kill"]


def classify(question: str, focused: bool = False) -> str:
    """The intent of a question from its words; `focused` when it names a service."""
    text = question.lower()
    if _INCIDENT.search(text):
        return "incident"
    if _CHANGES.search(text):
        return "changes"
    if _COMPARE.search(text):
        return "compare"
    if focused and _DEPENDS.search(text):
        return "depends"
    if _TOPOLOGY.search(text) or _DEPENDS.search(text):
        return "topology"
    if focused and (_HEALTH.search(text) or not _SERVICES.search(text)):
        return "health"
    if _SERVICES.search(text) or _HEALTH.search(text):
        return "services"
    return "overview"


def mentioned_service(question: str, names: list[str]) -> str | None:
    """The one known service the question names as a word, if exactly one."""
    words = set(re.findall(r"[A-Za-z0-9._-]+", question.lower()))
    found = [n for n in names if n.lower() in words]
    return found[0] if len(found) == 1 else None


#: Where a question names the service it is about, known or not ("why is X slow?",
#: "what happened to X?", "errors on X").
_ASKED = re.compile(
    r"\bwhy (?:is|are|does|did) (?:the )?([A-Za-z0-9._-]+)\b"
    r"|\b(?:happen\w* to|wrong with|errors? (?:on|in|from)|failing in) (?:the )?([A-Za-z0-9._-]+)"
)
_NOT_NAMES = frozenset({"it", "everything", "this", "that", "there", "my", "our", "we", "so"})
#: Words for the symptom's metric class.
_METRIC_WORDS = (
    (re.compile(r"\b(slow\w*|latency|lag\w*|timeouts?)\b"), "latency"),
    (re.compile(r"\b(errors?|fail\w*|5xx)\b"), "errors"),
    (re.compile(r"\bcpu\b"), "cpu"),
    (re.compile(r"\b(memory|leak\w*|oom)\b"), "memory"),
)


def asked_service(question: str, names: list[str]) -> str | None:
    """The service the question is about: a known name it mentions, else the word in
    the place of one ("why is nosuchservice slow?"), so that an unknown name is answered
    as unknown (with the closest names), not ignored."""
    known = mentioned_service(question, names)
    if known is not None:
        return known
    match = _ASKED.search(question.lower())
    word = next((g for g in match.groups() if g), None) if match else None
    return word if word and word not in _NOT_NAMES else None


def asked_metric(question: str) -> str | None:
    """The symptom's metric class from the question's words ('slow' is latency)."""
    text = question.lower()
    return next((metric for pattern, metric in _METRIC_WORDS if pattern.search(text)), None)


async def focus_of(
    question: str, colony: ToolCaller, inherited: str | None = None
) -> tuple[str | None, dict[str, Any]]:
    """The service a question is about (named, else inherited); and the service list."""
    listed = await colony.call("list_services", {"limit": 200})
    names = [s["name"] for s in listed["services"]]
    named = mentioned_service(question, names)
    return named or (inherited if inherited in names else None), listed


#: Intents whose answer describes now, whatever --since says.
NOW_INTENTS = frozenset({"services", "topology", "overview", "depends"})


def uses_since(intent: str | None, focus: str | None) -> bool:
    """Whether --since shaped an answer of `intent` (None: an LLM's, which may use it):
    what happened, what changed, is X healthy, and anomalies of all services do; the
    service list, the topology and one service compared with its normal are now."""
    if intent == "compare":
        return focus is None
    return intent not in NOW_INTENTS


def investigate_arguments(question: str, since: str | None, service: str | None) -> dict[str, Any]:
    arguments: dict[str, Any] = {"question": question, "start": since or "1h"}
    if service:
        arguments["service"] = service
    return arguments


class _Parts:
    """The parts of an answer, each told to `on_part` as it is added."""

    def __init__(self, on_part: Callable[[str], None] | None) -> None:
        self._parts: list[str] = []
        self._on_part = on_part

    def add(self, part: str) -> None:
        if self._on_part is not None:
            self._on_part(("\n\n" if self._parts else "") + part)
        self._parts.append(part)

    def text(self) -> str:
        return "\n\n".join(self._parts)


async def answer(
    question: str,
    colony: ToolCaller,
    since: str | None = None,
    *,
    investigation: dict[str, Any] | None = None,
    inherited_focus: str | None = None,
    on_part: Callable[[str], None] | None = None,
) -> Answer:
    """Answer `question`; `investigation` is an investigate result already at hand.
    `on_part` is told each part of the answer as soon as it is written (the dashboard
    streams them), with the blank line that separates it from the one before."""
    service, listed = await focus_of(question, colony, inherited_focus)
    intent = classify(question, service is not None)
    tools: dict[str, dict[str, Any]] = {}
    parts = _Parts(on_part)
    if intent == "incident":
        # An unknown name the question asks about is passed on: it is answered as unknown.
        asked = service or asked_service(question, [s["name"] for s in listed["services"]])
        arguments = investigate_arguments(question, since, asked)
        if asked and (metric := asked_metric(question)):
            arguments["metric"] = metric
        tools["investigate"] = investigation or await colony.call("investigate", arguments)
        parts.add(render.investigation(tools["investigate"]))
        # what changed in the range, whatever the analysis made of it: deploys first
        changes: dict[str, Any] = {"start": since or "1h", "kinds": INCIDENT_CHANGES, "limit": 10}
        if asked:
            changes["service"] = asked
        if tools["investigate"].get("outcome") != "unknown_service":
            tools["get_events"] = await colony.call("get_events", changes)
            if tools["get_events"].get("events"):
                parts.add(render.changes(tools["get_events"]))
        top = tools["investigate"].get("hypotheses") or [{}]
        service = service or top[0].get("service")
    elif intent == "compare":
        if service:
            tools["get_service"] = await colony.call("get_service", {"name": service})
            parts.add(render.compared(tools["get_service"]))
        else:
            found = await colony.call("find_anomalies", {"start": since or "1h", "limit": 50})
            tools["find_anomalies"] = found
            parts.add(render.anomalies(found))
    elif intent == "changes":
        arguments = {"start": since or "24h", "kinds": CHANGE_KINDS, "limit": 50}
        if service:
            arguments["service"] = service
        tools["get_events"] = await colony.call("get_events", arguments)
        parts.add(render.changes_answer(tools["get_events"]))
    elif intent == "health" and service:
        # Its own figures against normal, and the colony's analysis of the recent range:
        # a service can be up and still be the one that is slow.
        # detail=true: every metric, and the anomalies (a brief investigation omits them)
        tools["get_service"] = await colony.call("get_service", {"name": service, "detail": True})
        tools["investigate"] = await colony.call(
            "investigate", {**investigate_arguments(question, since, service), "detail": True}
        )
        parts.add(render.health(tools["get_service"], tools["investigate"]))
    elif intent == "depends" and service:
        tools["get_topology"] = await colony.call("get_topology", {"service": service, "depth": 1})
        parts.add(render.neighbourhood(service, tools["get_topology"]))
    if intent in ("services", "overview"):
        tools["list_services"] = listed
        parts.add(render.services(tools["list_services"]))
    if intent in ("topology", "overview"):
        tools["get_topology"] = await colony.call("get_topology")
        parts.add(render.topology(tools["get_topology"]))
    if intent == "overview":
        parts.add(
            "(The builtin provider answers: what happened, why is X slow, is X healthy,"
            " what changed, what depends on X, compare now with before, what is running,"
            " the topology. This is an overview of services and topology.)"
        )
    return Answer(question, intent, parts.text(), tools=tools, focus=service)
