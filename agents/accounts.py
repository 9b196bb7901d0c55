"""Accounts of the review web app: names, roles and argon2 password hashes in the run index.

Roles, each including the ones before it:

- ``viewer``: sees the queue, assets, runs and the audit; downloads approved assets;
- ``reviewer``: also decides (approve, reject, edit, regenerate, repair, bulk approve);
- ``admin``: also sees the accounts.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106 low-memory
profile); a hash made with older parameters is upgraded at the next login. A password is
never logged, stored or shown.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agents.errors import AccountError, Conflict
from agents.index import Index

Role = Literal["viewer", "reviewer", "admin"]
ROLES: tuple[str, ...] = ("viewer", "reviewer", "admin")
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

_hasher = PasswordHasher()
_DUMMY = _hasher.hash("signwriter: no such user")  # same work for unknown names


def can(role: str, needed: str) -> bool:
    """Whether ``role`` includes ``needed``."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def add_user(index: Index, name: str, role: str, password: str) -> None:
    if not NAME.match(name):
        raise AccountError(f"user name {name!r}: use 1-64 letters, digits, _ . @ -")
    if role not in ROLES:
        raise AccountError(f"role {role!r}: use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is longer than {MAX_PASSWORD} characters")
    try:
        index.add_user(name, role, _hasher.hash(password))
    except Conflict:
        raise AccountError(f"user '{name}' exists already (users remove {name} first)") from None


def authenticate(index: Index, name: str, password: str) -> dict[str, Any] | None:
    """The user when the password is right, else None (the same work either way)."""
    user = index.user(name) if NAME.match(name or "") else None
    if user is None or len(password) > MAX_PASSWORD:
        try:
            _hasher.verify(_DUMMY, password[:MAX_PASSWORD])
        except VerificationError:
            pass
        return None
    try:
        _hasher.verify(user["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user["password_hash"]):
        index.set_password_hash(name, _hasher.hash(password))
    return {"name": user["name"], "role": user["role"]}


def remove_user(index: Index, name: str) -> None:
    if not index.remove_user(name):
        raise AccountError(f"no user '{name}'")


def list_users(index: Index) -> list[dict[str, Any]]:
    """Names, roles and creation times (never hashes)."""
    return index.users()


def start_session(index: Index, user: str, token_hash: str, csrf_token: str,
                  ttl_s: float) -> None:
    """Record a login (only the token's hash is kept)."""
    index.add_session(token_hash, user, csrf_token, ttl_s)


def session_user(index: Index, token_hash: str) -> dict[str, Any] | None:
    """The live session's user: ``name``, ``role``, ``csrf_token`` (None if none)."""
    s = index.session(token_hash)
    return {"name": s["name"], "role": s["role"], "csrf_token": s["csrf_token"]} if s else None


def end_session(index: Index, token_hash: str) -> None:
    index.end_session(token_hash)
