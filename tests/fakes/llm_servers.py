"""Fake Anthropic and OpenAI servers: real HTTP on loopback, their real wire formats.

Each answers from a script, one item per model call, and records every request. The
real SDKs reach them through `base_url`. They check what the real APIs would refuse:
a missing key, a `tool_use`/`tool_call` left without its result in the next message,
a result for a call that was never made. Streaming requests get server-sent events
shaped as the real APIs send them; others get one JSON body.

Script items:
    Say("text")                           a final answer
    Call([("tool", {"arg": 1}), ...], "text before the calls")
    RawCall("tool", "not json")           arguments that are not a JSON object
    Fail(status, "message", headers)      an HTTP error
    Stall(seconds, then=item)             answer nothing for that long, then `item`
    Held("text", gate)                    a final answer streamed in two halves, the
                                          second once `gate` (a threading.Event) is set
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Call:
    calls: Sequence[tuple[str, dict[str, Any]]]
    text: str = ""


@dataclass(frozen=True)
class RawCall:
    name: str
    raw: str


@dataclass(frozen=True)
class Fail:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    seconds: float
    #: What to answer after the stall (by default a final answer that comes too late).
    then: Say | Call | RawCall | Fail | None = None


@dataclass(frozen=True)
class Held:
    text: str
    gate: threading.Event
    #: Longest wait for the gate, seconds.
    timeout_s: float = 60.0


Item = Say | Call | RawCall | Fail | Stall | Held
_ids = itertools.count(1)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeLLM:
    """Base: the HTTP server, the script, the request log."""

    key = "test-key"

    def __init__(self, script: Sequence[Item], repeat_last: bool = False) -> None:
        self.script = list(script)
        self.repeat_last = repeat_last
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next_item(self) -> Item:
        with self._lock:
            if len(self.script) > 1 or (self.script and not self.repeat_last):
                return self.script.pop(0)
            if self.script:
                return self.script[0]
        return Fail(500, "the test script ran out")

    def handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.requests.append(Recorded(h.path, headers, body))
        problem = self.check(h.path, headers, body)
        if problem is not None:
            status, message = problem
            self.send_json(h, status, self.error_body(status, message))
            return
        item = self.next_item()
        if isinstance(item, Stall):
            time.sleep(item.seconds)
            item = item.then or Say("too late")
        if isinstance(item, Fail):
            self.send_json(h, item.status, self.error_body(item.status, item.message), item.headers)
            return
        if isinstance(item, Held):
            held = item
            item = Say(held.text)
            if body.get("stream"):
                events = list(self.events(item, body))
                half = len(events) // 2
                self.send_events(h, iter(events[:half]), more=True)
                held.gate.wait(held.timeout_s)
                self.send_events(h, iter(events[half:]), started=True)
                return
            held.gate.wait(held.timeout_s)
        if body.get("stream"):
            self.send_events(h, self.events(item, body))
        else:
            self.send_json(h, 200, self.message(item, body))

    # -- HTTP -------------------------------------------------------------------------

    def send_json(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        doc: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def send_events(
        self,
        h: BaseHTTPRequestHandler,
        events: Iterator[tuple[str | None, str]],
        *,
        started: bool = False,
        more: bool = False,
    ) -> None:
        """`events` as server-sent events; `started`: the headers went already, `more`:
        more events follow in another call."""
        if not started:
            h.send_response(200)
            h.send_header("content-type", "text/event-stream")
            h.send_header("cache-control", "no-cache")
            h.send_header("connection", "close")
            h.end_headers()
        for name, data in events:
            chunk = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
            h.wfile.write(chunk.encode())
            h.wfile.flush()
        if not more:
            h.close_connection = True

    # -- per API ----------------------------------------------------------------------

    def check(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, str] | None:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def message(self, item: Item, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def events(self, item: Item, body: dict[str, Any]) -> Iterator[tuple[str | None, str]]:
        raise NotImplementedError

    @staticmethod
    def words(text: str) -> list[str]:
        """`text` in a few stream chunks, as a model streams it."""
        parts = text.split(" ")
        return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts)]


class FakeAnthropic(FakeLLM):
    """POST /v1/messages."""

    def check(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, str] | None:
        if path != "/v1/messages":
            return 404, f"no route {path}"
        if "anthropic-version" not in headers:
            return 400, "anthropic-version header is required"
        key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if key != self.key:
            return 401, "invalid x-api-key"
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return 400, f"{name}: Field required"
        return self.check_pairing(body["messages"])

    @staticmethod
    def check_pairing(messages: list[dict[str, Any]]) -> tuple[int, str] | None:
        if not messages or messages[0]["role"] != "user":
            return 400, "messages: first message must use the user role"
        for i, m in enumerate(messages):
            if i and m["role"] == messages[i - 1]["role"]:
                return 400, f"messages.{i}: roles must alternate between user and assistant"
            content = m["content"] if isinstance(m["content"], list) else []
            uses = [b["id"] for b in content if b.get("type") == "tool_use"]
            results = [b["tool_use_id"] for b in content if b.get("type") == "tool_result"]
            if results:
                before = messages[i - 1]["content"] if i else []
                asked = [
                    b["id"] for b in before if isinstance(b, dict) and b.get("type") == "tool_use"
                ]
                if sorted(results) != sorted(asked):
                    return 400, (
                        f"messages.{i}: tool_result blocks {results} do not answer the"
                        f" tool_use blocks {asked} of the previous message"
                    )
            if uses:
                after = messages[i + 1]["content"] if i + 1 < len(messages) else None
                answered = [
                    b["tool_use_id"]
                    for b in after or []
                    if isinstance(b, dict) and b.get("type") == "tool_result"
                ]
                if after is not None and sorted(answered) != sorted(uses):
                    return 400, f"messages.{i}: tool_use ids {uses} without tool_result blocks"
        return None

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = {401: "authentication_error", 429: "rate_limit_error", 500: "api_error"}.get(
            status, "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": message}}

    def _blocks(self, item: Item) -> tuple[list[dict[str, Any]], str]:
        if isinstance(item, Say):
            return [{"type": "text", "text": item.text}], "end_turn"
        if isinstance(item, RawCall):
            block = {
                "type": "tool_use",
                "id": f"toolu_{next(_ids):04d}",
                "name": item.name,
                "input": item.raw,
            }
            return [block], "tool_use"
        assert isinstance(item, Call)
        blocks: list[dict[str, Any]] = [{"type": "text", "text": item.text}] if item.text else []
        blocks += [
            {"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": args}
            for name, args in item.calls
        ]
        return blocks, "tool_use"

    def _usage(self, body: dict[str, Any]) -> int:
        # As the real API counts input: the system prompt and tool definitions too.
        sent = [body.get("system", ""), body.get("tools", []), body["messages"]]
        return len(json.dumps(sent)) // 4

    def message(self, item: Item, body: dict[str, Any]) -> dict[str, Any]:
        blocks, stop = self._blocks(item)
        return {
            "id": f"msg_{next(_ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": self._usage(body), "output_tokens": 20},
        }

    def events(self, item: Item, body: dict[str, Any]) -> Iterator[tuple[str | None, str]]:
        blocks, stop = self._blocks(item)
        start = self.message(Say(""), body) | {"content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": self._usage(body), "output_tokens": 1}
        yield "message_start", json.dumps({"type": "message_start", "message": start})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                opening = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": w} for w in self.words(block["text"])]
            else:
                opening = block | {"input": {}}
                raw = (
                    block["input"]
                    if isinstance(block["input"], str)
                    else json.dumps(block["input"])
                )
                half = len(raw) // 2
                deltas = [
                    {"type": "input_json_delta", "partial_json": raw[:half]},
                    {"type": "input_json_delta", "partial_json": raw[half:]},
                ]
            yield (
                "content_block_start",
                json.dumps(
                    {"type": "content_block_start", "index": index, "content_block": opening}
                ),
            )
            for delta in deltas:
                yield (
                    "content_block_delta",
                    json.dumps({"type": "content_block_delta", "index": index, "delta": delta}),
                )
            yield "content_block_stop", json.dumps({"type": "content_block_stop", "index": index})
        yield (
            "message_delta",
            json.dumps(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 20},
                }
            ),
        )
        yield "message_stop", json.dumps({"type": "message_stop"})


class FakeOpenAI(FakeLLM):
    """POST /v1/chat/completions (base_url ends in /v1)."""

    @property
    def base_url(self) -> str:
        return super().base_url + "/v1"

    def check(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, str] | None:
        if path != "/v1/chat/completions":
            return 404, f"no route {path}"
        if headers.get("authorization") != f"Bearer {self.key}":
            return 401, "Incorrect API key provided"
        for name in ("model", "messages"):
            if name not in body:
                return 400, f"Missing required parameter: '{name}'"
        open_ids: list[str] = []
        for i, m in enumerate(body["messages"]):
            if m["role"] == "tool":
                if m.get("tool_call_id") not in open_ids:
                    return 400, (
                        f"messages.[{i}]: a message with role 'tool' must be a response to a"
                        " preceding message with 'tool_calls'"
                    )
                open_ids.remove(m["tool_call_id"])
                continue
            if open_ids:
                return 400, f"tool_call_ids did not have response messages: {', '.join(open_ids)}"
            if m["role"] == "assistant":
                open_ids = [c["id"] for c in m.get("tool_calls") or []]
        return None

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }

    def _calls(self, item: Item) -> list[dict[str, Any]]:
        if isinstance(item, RawCall):
            pairs = [(item.name, item.raw)]
        elif isinstance(item, Call):
            pairs = [(name, json.dumps(args)) for name, args in item.calls]
        else:
            pairs = []
        return [
            {
                "id": f"call_{next(_ids):04d}",
                "type": "function",
                "function": {"name": n, "arguments": a},
            }
            for n, a in pairs
        ]

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        # As the real API counts the prompt: the tool definitions too.
        prompt = len(json.dumps([body.get("tools", []), body["messages"]])) // 4
        return {"prompt_tokens": prompt, "completion_tokens": 20, "total_tokens": prompt + 20}

    def message(self, item: Item, body: dict[str, Any]) -> dict[str, Any]:
        calls = self._calls(item)
        text = item.text if isinstance(item, Say | Call) else ""
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = calls
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
            ],
            "usage": self._usage(body),
        }

    def events(self, item: Item, body: dict[str, Any]) -> Iterator[tuple[str | None, str]]:
        ident, created = f"chatcmpl-{next(_ids)}", int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choices = (
                [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []
            )
            doc = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "choices": choices,
            }
            return json.dumps(doc | extra)

        yield None, chunk({"role": "assistant", "content": ""})
        text = item.text if isinstance(item, Say | Call) else ""
        for word in self.words(text) if text else []:
            yield None, chunk({"content": word})
        calls = self._calls(item)
        for index, call in enumerate(calls):
            args = call["function"]["arguments"]
            opening = {"index": index, "id": call["id"], "type": "function"}
            opening["function"] = {"name": call["function"]["name"], "arguments": ""}
            yield None, chunk({"tool_calls": [opening]})
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                yield (
                    None,
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}),
                )
        yield None, chunk({}, "tool_calls" if calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield None, chunk({}, None, usage=self._usage(body))
        yield None, "[DONE]"
