"""The dashboard's routes and its login gate.

Pages and static files are served to a browser holding a session cookie (made by the
one-time login URL the colony prints, or by pasting the colony token into /login);
without one the answer is 401 with the login form. Every POST carries the session's
CSRF token (a form field or the X-CSRF-Token header) and, when the browser sends one,
an Origin of this host. REST (/api/) and MCP (/mcp) keep their bearer token and are
not the dashboard's business.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from html import escape
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Route

from coral_mcp.dashboard import ask_stream, pages
from coral_mcp.dashboard.ask_stream import LlmDoor
from coral_mcp.dashboard.html import login_page, page
from coral_mcp.dashboard.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_TTL_S,
    Sessions,
    cookie_header,
)
from coral_mcp.errors import CoralError
from coral_mcp.tools.data import CoralData

#: Paths served without a session (besides /healthz, which the colony keeps open).
OPEN_PATHS = frozenset({"/login"})
#: Paths that are not the dashboard's: they keep the bearer token.
API_PREFIXES = ("/api/", "/mcp")
MAX_FORM_BYTES = 16_384
MAX_QUESTION_CHARS = 1_000
STATIC = {"style.css": "text/css", "app.js": "text/javascript"}

Scope = MutableMapping[str, Any]


def _cookie(request: Request, name: str) -> str | None:
    return request.cookies.get(name)


def is_dashboard_path(path: str) -> bool:
    return not path.startswith(API_PREFIXES) and path != "/healthz"


class Dashboard:
    """The dashboard over `data`; with `sessions` None (no token) it is open. Its ask
    box answers with the builtin provider, or with the LLM behind `llm`."""

    def __init__(
        self, data: CoralData, sessions: Sessions | None, llm: LlmDoor | None = None
    ) -> None:
        self._data = data
        self.sessions = sessions
        self._llm = llm
        self._static = {
            name: (resources.files(__package__).joinpath("static", name).read_bytes(), kind)
            for name, kind in STATIC.items()
        }

    # -- the gate -----------------------------------------------------------------------

    @staticmethod
    def is_page(path: str) -> bool:
        """Whether `path` is the dashboard's (everything but REST, MCP and /healthz)."""
        return is_dashboard_path(path)

    def session_of(self, scope: Scope) -> str | None:
        """The request's valid session, if any."""
        if self.sessions is None:
            return None
        headers = dict(scope.get("headers") or [])
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers.get(b"cookie", b"").decode("latin-1"))
        except Exception:  # a malformed Cookie header is just no session
            return None
        morsel = jar.get(SESSION_COOKIE)
        value = morsel.value if morsel else None
        return value if self.sessions.valid(value) else None

    def admits(self, scope: Scope) -> bool:
        return self.sessions is None or scope["path"] in OPEN_PATHS or bool(self.session_of(scope))

    def refusal(self) -> Response:
        """401 for a browser without a session: the login form."""
        return self._login_form(None, status=401)

    # -- helpers ------------------------------------------------------------------------

    def _csrf_of(self, request: Request) -> str | None:
        session = _cookie(request, SESSION_COOKIE)
        if self.sessions is None or session is None:
            return None
        return self.sessions.csrf(session)

    def _framed(self, request: Request, title: str, body: str, active: str) -> HTMLResponse:
        return HTMLResponse(
            page(title, body, self._csrf_of(request), active),
            headers={"Cache-Control": "no-store"},
        )

    def _error(self, request: Request, exc: CoralError, active: str) -> HTMLResponse:
        hint = f"<p>{escape(exc.hint)}</p>" if exc.hint else ""
        body = f'<p class="error">{escape(exc.message)}</p>{hint}'
        response = self._framed(request, "Cannot show that", body, active)
        response.status_code = 400
        return response

    def _login_form(self, error: str | None, status: int = 200) -> Response:
        token = secrets.token_urlsafe(18)
        response = HTMLResponse(login_page(token, error), status_code=status)
        response.headers.append("Set-Cookie", cookie_header(LOGIN_COOKIE, token, 600))
        response.headers["Cache-Control"] = "no-store"
        return response

    def _logged_in(self) -> Response:
        assert self.sessions is not None
        response = RedirectResponse("/", status_code=303)
        session = self.sessions.new_session()
        response.headers.append("Set-Cookie", cookie_header(SESSION_COOKIE, session, SESSION_TTL_S))
        response.headers.append("Set-Cookie", cookie_header(LOGIN_COOKIE, "", 0))
        return response

    @staticmethod
    async def _form(request: Request) -> dict[str, str]:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise CoralError("form too large")
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                doc = json.loads(body or b"{}")
            except ValueError:
                raise CoralError("body is not JSON") from None
            return {k: v for k, v in doc.items() if isinstance(v, str)}
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    @staticmethod
    def _same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or urlsplit(origin).netloc == request.headers.get("host")

    async def _checked_post(self, request: Request) -> dict[str, str] | None:
        """The form of a POST that carries this session's CSRF token; None otherwise."""
        form = await self._form(request)
        if self.sessions is None:
            return form if self._same_origin(request) else None
        given = request.headers.get("x-csrf-token") or form.get("csrf")
        session = _cookie(request, SESSION_COOKIE)
        if not self._same_origin(request) or not self.sessions.csrf_ok(session, given):
            return None
        return form

    # -- routes -------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if self.sessions is None:
            return RedirectResponse("/", status_code=303)
        if request.method == "GET":
            key = request.query_params.get("key")
            if key is not None:
                if self.sessions.redeem(key):
                    return self._logged_in()
                return self._login_form("That login link was used or has expired.", 401)
            return self._login_form(None)
        try:
            form = await self._form(request)
        except CoralError as exc:
            return self._login_form(exc.message, 400)
        expected = _cookie(request, LOGIN_COOKIE)
        if not expected or not secrets.compare_digest(expected, form.get("csrf", "")):
            return self._login_form("The form expired; try again.", 403)
        if not self.sessions.token_ok(form.get("token", "")):
            return self._login_form("That is not this colony's token.", 401)
        return self._logged_in()

    async def logout(self, request: Request) -> Response:
        if await self._checked_post(request) is None:
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        response = RedirectResponse("/login", status_code=303)
        response.headers.append("Set-Cookie", cookie_header(SESSION_COOKIE, "", 0))
        return response

    async def static(self, request: Request) -> Response:
        found = self._static.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404)
        content, kind = found
        return Response(content, media_type=kind, headers={"Cache-Control": "max-age=300"})

    def _page(
        self, render: Callable[[Request], Awaitable[pages.Page]], active: str
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                title, body = await render(request)
            except CoralError as exc:
                return self._error(request, exc, active)
            return self._framed(request, title, body, active)

        return endpoint

    async def ask(self, request: Request) -> Response:
        try:
            form = await self._checked_post(request)
        except CoralError as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        if form is None:
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        question = form.get("question", "").strip()[:MAX_QUESTION_CHARS]
        if not question:
            return JSONResponse({"error": "ask a question, e.g. what happened?"}, status_code=400)
        since = (form.get("range") or "1h").strip()[:100]
        return StreamingResponse(
            ask_stream.stream(self._data, question, since, self._llm),
            media_type="application/x-ndjson",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    def routes(self) -> list[BaseRoute]:
        data = self._data

        def range_of(request: Request) -> str:
            return request.query_params.get("range") or "1h"

        return [
            Route("/", self._page(lambda r: pages.overview(data), "/")),
            Route(
                "/services/{name}",
                self._page(lambda r: pages.service(data, r.path_params["name"], range_of(r)), "/"),
            ),
            Route(
                "/timeline",
                self._page(
                    lambda r: pages.timeline(
                        data,
                        range_of(r),
                        r.query_params.get("service") or None,
                        r.query_params.get("kind") or None,
                    ),
                    "/timeline",
                ),
            ),
            Route(
                "/investigations",
                self._page(lambda r: pages.investigations(data), "/investigations"),
            ),
            Route(
                "/investigations/{id}",
                self._page(
                    lambda r: pages.investigation(data, r.path_params["id"]), "/investigations"
                ),
            ),
            Route("/ask", self.ask, methods=["POST"]),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/static/{name}", self.static),
        ]
