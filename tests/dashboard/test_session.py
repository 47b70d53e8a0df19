"""Dashboard login keys, sessions and CSRF tokens."""

from __future__ import annotations

from coral_mcp.dashboard.session import LOGIN_KEY_TTL_S, SESSION_TTL_S, Sessions, cookie_header


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_login_key_logs_in_once_and_not_after_it_expires() -> None:
    clock = Clock()
    sessions = Sessions("secret-token", clock)
    key = sessions.mint_login_key()
    assert sessions.redeem(key)
    assert not sessions.redeem(key)
    late = sessions.mint_login_key()
    clock.now += LOGIN_KEY_TTL_S + 1
    assert not sessions.redeem(late)
    assert not sessions.redeem("made-up")


def test_a_session_is_valid_until_it_expires_and_cannot_be_forged() -> None:
    clock = Clock()
    sessions = Sessions("secret-token", clock)
    session = sessions.new_session()
    assert sessions.valid(session)
    expiry, nonce, mac = session.split(".")
    assert not sessions.valid(f"{int(expiry) + 10**6}.{nonce}.{mac}")
    assert not sessions.valid(Sessions("other-token", clock).new_session())
    assert not sessions.valid(None) and not sessions.valid("x")
    clock.now += SESSION_TTL_S + 1
    assert not sessions.valid(session)


def test_csrf_tokens_belong_to_one_session() -> None:
    sessions = Sessions("secret-token", Clock())
    a, b = sessions.new_session(), sessions.new_session()
    assert sessions.csrf_ok(a, sessions.csrf(a))
    assert not sessions.csrf_ok(a, sessions.csrf(b))
    assert not sessions.csrf_ok(a, None)
    assert not sessions.csrf_ok(None, sessions.csrf(a))


def test_the_token_itself_logs_in_and_nothing_else_does() -> None:
    sessions = Sessions("secret-token", Clock())
    assert sessions.token_ok(" secret-token\n")
    assert not sessions.token_ok("secret-toke")


def test_cookies_are_http_only_and_same_site_strict() -> None:
    header = cookie_header("coral_session", "v", 60)
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
