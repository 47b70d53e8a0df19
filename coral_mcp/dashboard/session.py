"""Dashboard login: one-time login keys, signed session cookies and CSRF tokens.

All derive from the colony's HTTP token: a session is `expiry.nonce.mac` signed with a
key made from the token, so it survives nothing the token does not (rotate the token to
end every session). CSRF tokens are a MAC of the session: only a page served to that
session can carry one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable

SESSION_COOKIE = "coral_session"
LOGIN_COOKIE = "coral_login"
#: How long a session lasts, and how long a printed login URL stays redeemable.
SESSION_TTL_S = 12 * 3600
LOGIN_KEY_TTL_S = 600
MAX_LOGIN_KEYS = 64


class Sessions:
    def __init__(self, token: str, clock: Callable[[], float]) -> None:
        self._token = token.encode()
        self._key = hashlib.sha256(b"coral-dashboard-session:" + self._token).digest()
        self._clock = clock
        self._login_keys: dict[str, float] = {}

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def mint_login_key(self) -> str:
        """A key for one login URL: redeemable once, for LOGIN_KEY_TTL_S."""
        now = self._clock()
        self._login_keys = {k: t for k, t in self._login_keys.items() if t > now}
        if len(self._login_keys) >= MAX_LOGIN_KEYS:
            self._login_keys.pop(next(iter(self._login_keys)))
        key = secrets.token_urlsafe(24)
        self._login_keys[key] = now + LOGIN_KEY_TTL_S
        return key

    def redeem(self, key: str) -> bool:
        """Whether `key` is an unused, unexpired login key; it is used up either way."""
        expires = self._login_keys.pop(key, None)
        return expires is not None and expires > self._clock()

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.strip().encode(), self._token)

    def new_session(self) -> str:
        payload = f"{int(self._clock() + SESSION_TTL_S)}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._mac(payload)}"

    def valid(self, session: str | None) -> bool:
        if not session or session.count(".") != 2:
            return False
        payload, _, mac = session.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return False
        expiry = payload.split(".", 1)[0]
        return expiry.isdigit() and int(expiry) > self._clock()

    def csrf(self, session: str) -> str:
        return self._mac("csrf:" + session)

    def csrf_ok(self, session: str | None, given: str | None) -> bool:
        if not session or not given or not self.valid(session):
            return False
        return hmac.compare_digest(given.encode(), self.csrf(session).encode())


def cookie_header(name: str, value: str, max_age_s: int) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Strict, whole site."""
    return f"{name}={value}; Max-Age={max_age_s}; Path=/; HttpOnly; SameSite=Strict"
