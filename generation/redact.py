"""Secrets never echoed: every configured key, in every encoding a provider might echo it
back in, is cut from what crosses the backend boundary.

A careless endpoint may repeat a key in an error body, URL-encoded in a redirect, base64
inside a Basic credential, or even as a task id. :func:`forms` lists the ways a key can be
written (raw, percent-encoded either case, ``+`` for space, JSON-escaped, hex, base64 and
URL-safe base64 at each of the three byte alignments, so a key inside a longer base64
string is found too); :func:`redact` replaces each with ``***``; :func:`contains` says
whether a text carries one.

:class:`RedactingBackend` wraps any backend (``redacting(backend, secrets)``):

- a :class:`~generation.errors.BackendError` (or any error) leaving the backend has its
  message redacted;
- the metadata and model name of a :class:`~generation.base.GeneratedImage` are redacted;
- a task handle (what is recorded in the ledger so a resumed run can poll the task) that
  contains a key is never passed on to be stored: the attempt stops with an
  :class:`~generation.errors.AuthError` that says to rotate the key.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from pydantic import SecretStr

from generation.base import EditRequest, GeneratedImage, GenerationRequest
from generation.errors import AuthError, BackendError

MASK = "***"
MIN_SECRET_CHARS = 6
"""Shorter values are not treated as secrets (they would match ordinary words)."""
MIN_FORM_CHARS = 8
"""A base64 fragment shorter than this is not searched for (too likely by chance)."""


def _plain(value: SecretStr | str | None) -> str:
    if value is None:
        return ""
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _b64_fragments(raw: bytes) -> set[str]:
    """The base64 text a key's bytes produce wherever they sit in a longer string: for
    each alignment, only the characters its bytes alone decide."""
    out: set[str] = set()
    for offset in range(3):
        data = b"\0" * offset + raw
        enc = base64.b64encode(data).decode("ascii")
        skip = -(-offset * 8 // 6)  # characters that mix in the bytes before the key
        end = len(data) * 8 // 6    # characters wholly decided by bytes up to its end
        frag = enc[skip:end]
        if len(frag) >= MIN_FORM_CHARS:
            out.add(frag)
            out.add(frag.replace("+", "-").replace("/", "_"))
    return out


@lru_cache(maxsize=256)
def forms(secret: str) -> tuple[str, ...]:
    """Every way ``secret`` may appear in a provider's reply, longest first."""
    if len(secret) < MIN_SECRET_CHARS:
        return ()
    raw = secret.encode("utf-8")
    found = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret),
             urllib.parse.quote_plus(secret), json.dumps(secret)[1:-1], raw.hex(),
             raw.hex().upper()}
    found |= _b64_fragments(raw)
    return tuple(sorted((f for f in found if f), key=len, reverse=True))


@lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    parts: list[str] = []
    for s in secrets:
        for f in forms(s):
            # percent-escapes match in either case (%2f and %2F)
            parts.append(re.sub(r"%([0-9A-Fa-f]{2})", lambda m: f"%(?i:{m.group(1)})",
                                re.escape(f).replace("\\%", "%")))
    if not parts:
        return None
    return re.compile("|".join(sorted(set(parts), key=len, reverse=True)))


def _key(secrets: Iterable[SecretStr | str | None]) -> tuple[str, ...]:
    return tuple(sorted({p for p in map(_plain, secrets) if len(p) >= MIN_SECRET_CHARS}))


def redact(text: str, secrets: Iterable[SecretStr | str | None]) -> str:
    """``text`` with every form of every secret replaced by ``***``."""
    pat = _pattern(_key(secrets))
    return pat.sub(MASK, str(text)) if pat else str(text)


def contains(text: str, secrets: Iterable[SecretStr | str | None]) -> bool:
    """True when ``text`` carries any form of any secret."""
    pat = _pattern(_key(secrets))
    return bool(pat and pat.search(str(text)))


def redact_value(value: Any, secrets: Iterable[SecretStr | str | None]) -> Any:
    """A JSON-like value with every string (keys included) redacted."""
    key = _key(secrets)
    if not key:
        return value

    def walk(v: Any, depth: int = 0) -> Any:
        if depth > 50:
            return MASK
        if isinstance(v, str):
            return redact(v, key)
        if isinstance(v, dict):
            return {walk(k, depth + 1): walk(x, depth + 1) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x, depth + 1) for x in v]
        return v
    return walk(value)


def _redact_error(e: BaseException, secrets: tuple[str, ...]) -> None:
    """Redact an exception's message in place (args and ``detail``), and its causes."""
    seen = 0
    while e is not None and seen < 10:
        try:
            e.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in e.args)
        except (AttributeError, TypeError):
            pass
        if isinstance(getattr(e, "detail", None), str):
            e.detail = redact(e.detail, secrets)  # type: ignore[attr-defined]
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
        seen += 1


class RedactingBackend:
    """A backend whose every reply is cleared of the given secrets (see module doc)."""

    def __init__(self, backend: Any, secrets: Iterable[SecretStr | str | None]) -> None:
        self._backend = backend
        self._secrets = _key(secrets)

    def __getattr__(self, name: str) -> Any:  # name, capabilities, options, close...
        return getattr(self._backend, name)

    @property
    def wrapped(self) -> Any:
        return self._backend

    def _guard_submit(self, on_submit: Callable[[dict[str, Any]], None] | None
                      ) -> Callable[[dict[str, Any]], None] | None:
        if on_submit is None:
            return None
        secrets = self._secrets

        def checked(handle: dict[str, Any]) -> None:
            if contains(json.dumps(handle, default=str), secrets):
                raise AuthError("the provider returned a task id or handle that contains "
                                "your API key; it was not stored. Rotate the key",
                                backend=getattr(self._backend, "name", ""))
            on_submit(handle)
        return checked

    def _call(self, fn: Callable[..., GeneratedImage], request: Any,
              on_submit: Callable[[dict[str, Any]], None] | None) -> GeneratedImage:
        try:
            result = fn(request, on_submit=self._guard_submit(on_submit))
        except BaseException as e:
            _redact_error(e, self._secrets)
            raise
        if not self._secrets:
            return result
        return result.model_copy(update={
            "metadata": redact_value(result.metadata, self._secrets),
            "model": redact(result.model, self._secrets) if isinstance(result.model, str)
            else result.model})

    def generate(self, request: GenerationRequest, *,
                 on_submit: Callable[[dict[str, Any]], None] | None = None) -> GeneratedImage:
        return self._call(self._backend.generate, request, on_submit)

    def edit(self, request: EditRequest, *,
             on_submit: Callable[[dict[str, Any]], None] | None = None) -> GeneratedImage:
        return self._call(self._backend.edit, request, on_submit)


def redacting(backend: Any, secrets: Iterable[SecretStr | str | None]) -> Any:
    """``backend`` wrapped in :class:`RedactingBackend` (unwrapped when no secret is set)."""
    key = _key(secrets)
    return RedactingBackend(backend, key) if key else backend


__all__ = ["BackendError", "RedactingBackend", "contains", "forms", "redact", "redact_value",
           "redacting"]
