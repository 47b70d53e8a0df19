"""The `builtin` provider: answers from the colony's tools with no LLM, deterministically.

It recognises what a question asks for by its words, calls the tools that answer it,
and renders their results: "what happened?" / "why is X slow?" run the colony's
investigation (ranked hypotheses with evidence), "what is running?" lists services,
"show me the topology" draws the graph. Questions it does not recognise get an overview (services
and topology) and a note on what it can answer.
"""

from __future__ import annotations

import re
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

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "provider": self.provider,
            "intent": self.intent,
            "answer": self.text,
            "tools": self.tools,
        }


_INCIDENT = re.compile(
    r"\b(happen\w*|wrong|why|slow\w*|errors?|fail\w*|broke\w*|incident|investigat\w*"
    r"|problems?|issues?|crash\w*|cause\w*|outage|degrad\w*|latency|leak\w*)\b"
)
_TOPOLOGY = re.compile(
    r"\b(topolog\w*|depend\w*|graph|talks?|calls?|connect\w*|edges?|upstream|downstream|map)\b"
)
_SERVICES = re.compile(
    r"\b(running|services?|process\w*|status|up|down|health\w*|what runs|list)\b"
)


#: Events shown with an incident's answer as what changed.
CHANGE_KINDS = ("deploy", "restart", "crash", "oom_kill")


def classify(question: str) -> str:
    """'incident', 'topology', 'services' or 'overview' from the question's words."""
    text = question.lower()
    if _INCIDENT.search(text):
        return "incident"
    if _TOPOLOGY.search(text):
        return "topology"
    if _SERVICES.search(text):
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


async def answer(question: str, colony: ToolCaller, since: str | None = None) -> Answer:
    intent = classify(question)
    tools: dict[str, dict[str, Any]] = {}
    parts: list[str] = []
    if intent == "incident":
        listed = await colony.call("list_services", {"limit": 200})
        service = asked_service(question, [s["name"] for s in listed["services"]])
        arguments: dict[str, Any] = {"question": question, "start": since or "1h"}
        if service:
            arguments["service"] = service
            metric = asked_metric(question)
            if metric:
                arguments["metric"] = metric
        tools["investigate"] = await colony.call("investigate", arguments)
        parts.append(render.investigation(tools["investigate"]))
        # what changed in the range, whatever the analysis made of it: deploys first
        changes: dict[str, Any] = {"start": since or "1h", "kinds": list(CHANGE_KINDS)}
        if service:
            changes["service"] = service
        tools["get_events"] = await colony.call("get_events", {**changes, "limit": 10})
        if tools["get_events"].get("events"):
            parts.append(render.changes(tools["get_events"]))
    if intent in ("services", "overview"):
        tools["list_services"] = await colony.call("list_services", {"limit": 200})
        parts.append(render.services(tools["list_services"]))
    if intent in ("topology", "overview"):
        tools["get_topology"] = await colony.call("get_topology")
        parts.append(render.topology(tools["get_topology"]))
    if intent == "overview":
        parts.append(
            "(The builtin provider answers questions about what is running and the"
            " topology; this is an overview of both.)"
        )
    return Answer(question=question, intent=intent, text="\n\n".join(parts), tools=tools)
