"""Sessions, CSRF, roles, login rate limiting and security headers of the web app.

- A session is a random token in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure``
  when the request came over TLS); the index keeps only its SHA-256, with the session's
  CSRF token, for 12 hours.
- Every state-changing form carries ``csrf_token``: the session's token, or before login
  the value of a login cookie (double submit). A POST without the right one is a 403.
- Roles (``viewer`` < ``reviewer`` < ``admin``) are checked on every route; a page asked
  for without a session redirects (303) to ``/login``.
- Failed logins are limited per client address and per user name (5 in 5 minutes: 429).
- Every response carries a strict Content-Security-Policy (scripts and styles from this
  origin only, no framing) and ``X-Frame-Options: DENY``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from typing import Any

from fastapi import Request

from agents.accounts import can, session_user

SESSION_COOKIE = "sw_session"
LOGIN_COOKIE = "sw_login_csrf"
SESSION_TTL_S = 12 * 3600
LOGIN_LIMIT = 5
LOGIN_WINDOW_S = 300.0

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "object-src 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


_UNSET = object()


class LoginRequired(Exception):
    """No live session: pages redirect to /login, state changes are refused."""


class Forbidden(Exception):
    """A session whose role does not allow this, or a POST without the right CSRF token."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def current_user(request: Request) -> dict[str, Any] | None:
    """The session's user (``name``, ``role``, ``csrf_token``), or None."""
    cached = getattr(request.state, "user", _UNSET)
    if cached is not _UNSET:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    if token:
        user = session_user(request.app.state.index, token_hash(token))
    request.state.user = user
    return user


def require(role: str):  # noqa: ANN201 - a FastAPI dependency
    """A dependency: the user, when their role includes ``role``."""
    def dependency(request: Request) -> dict[str, Any]:
        user = current_user(request)
        if user is None:
            raise LoginRequired()
        if not can(user["role"], role):
            raise Forbidden(f"this needs the {role} role (you are a {user['role']})")
        return user
    return dependency


async def check_csrf(request: Request, user: dict[str, Any]) -> dict[str, Any]:
    """The form, when its ``csrf_token`` is the session's; else :class:`Forbidden`."""
    form = await request.form()
    if not same(str(form.get("csrf_token") or ""), user["csrf_token"]):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")
    return {k: v for k, v in form.multi_items()}


class LoginLimiter:
    """Failed logins per key in a sliding window (in this process)."""

    def __init__(self, limit: int = LOGIN_LIMIT, window_s: float = LOGIN_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] < now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> int:
        """Seconds until another try is allowed (0: allowed now)."""
        now = time.monotonic()
        with self._lock:
            waits = [int(q[0] + self.window_s - now) + 1 for k in keys
                     if len(q := self._recent(k, now)) >= self.limit]
        return max(waits, default=0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)
