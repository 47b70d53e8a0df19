"""The dashboard's page frame and the small HTML pieces every page uses (all text
escaped here, once)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlencode

NAV = (("/", "Overview"), ("/timeline", "Timeline"), ("/investigations", "Investigations"))
RANGES = ("15m", "1h", "6h", "24h", "7d")


def when(value: datetime | str | None) -> str:
    """A time the browser shows in its own zone (app.js), UTC on hover."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:  # stored records come from clients: shown as they are
            return escape(value)
        value = parsed
    utc = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'<time datetime="{utc}" title="{utc}">{utc}</time>'


def service_link(name: str) -> str:
    return f'<a href="/services/{quote(name, safe="")}">{escape(name)}</a>'


def url(path: str, **params: str | None) -> str:
    given = {k: v for k, v in params.items() if v}
    return path + ("?" + urlencode(given) if given else "")


def range_form(current: str, **hidden: str | None) -> str:
    """The range picker: the tools' relative forms (`15m`, `now-1h`) or RFC 3339."""
    options = "".join(f'<option value="{r}">' for r in RANGES)
    keep = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in hidden.items()
        if v
    )
    return (
        f'<form class="range" method="get">{keep}<label>Range <input name="range"'
        f' list="ranges" value="{escape(current)}" size="10"'
        ' title="15m, now-1h, or an RFC 3339 time"></label>'
        f'<datalist id="ranges">{options}</datalist> <button>Show</button></form>'
    )


def page(title: str, body: str, csrf: str | None, active: str = "/") -> str:
    links = "".join(
        f'<a href="{href}"{" class=active" if href == active else ""}>{name}</a>'
        for href, name in NAV
    )
    logout = (
        f'<form method="post" action="/logout" class="logout"><input type="hidden"'
        f' name="csrf" value="{escape(csrf)}"><button>Log out</button></form>'
        if csrf
        else ""
    )
    meta = f'<meta name="csrf" content="{escape(csrf)}">' if csrf else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{escape(title)} · Coral</title>"
        '<link rel="stylesheet" href="/static/style.css">'
        '<script src="/static/app.js" defer></script></head><body>'
        f'<header><a class="brand" href="/">Coral</a><nav>{links}</nav>{logout}</header>'
        f'<main><h1>{escape(title)}</h1><div id="live">{body}</div></main>'
        "</body></html>"
    )


LOGIN_STYLE = (
    "body{font:15px system-ui,sans-serif;background:#f4f6f8;display:grid;place-items:center;"
    "height:100vh;margin:0}form{background:#fff;padding:2em;border-radius:8px;"
    "box-shadow:0 1px 4px #0002;display:grid;gap:.8em;min-width:22em}"
    "input,button{font:inherit;padding:.5em}.error{color:#b00020}"
)


def login_page(login_csrf: str, error: str | None = None) -> str:
    """The only page served without a session (styles inline: nothing else is open)."""
    problem = f'<p class="error">{escape(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Log in · Coral</title><style>{LOGIN_STYLE}</style></head><body>"
        '<form method="post" action="/login"><h1>Coral</h1>'
        "<p>Open the login URL that <code>coral up</code> or <code>coral colony start</code>"
        " printed, or paste the colony token<br>(<code>coral colony token show --mcp</code>).</p>"
        f'{problem}<input type="hidden" name="csrf" value="{escape(login_csrf)}">'
        '<input type="password" name="token" placeholder="colony token" autocomplete="off"'
        ' aria-label="colony token"><button>Log in</button></form></body></html>'
    )
