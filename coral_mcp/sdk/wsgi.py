"""WSGI helper (Flask, Django, any WSGI app) — two lines:

    from coral_mcp.sdk.wsgi import with_coral
    app.wsgi_app = with_coral(app.wsgi_app, service="api", version="2.1.0", components={...})

It starts the SDK and hands back the very same application object: nothing is added to
the request path. Forking servers (gunicorn, uWSGI) are covered: each forked worker
gets its own endpoint (see `coral_mcp.sdk`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from coral_mcp import sdk

App = TypeVar("App")


def with_coral(app: App, **init_kwargs: Any) -> App:
    """Start the SDK with `init_kwargs` (as `sdk.init`) and return `app` unchanged."""
    sdk.init(**init_kwargs)
    return app
