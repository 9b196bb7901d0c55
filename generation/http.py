"""Shared HTTP plumbing for every remote image backend.

One place decides how a remote backend talks HTTP, so every provider module behaves the
same way when the network or the provider misbehaves:

- :func:`make_client` builds an :class:`httpx.Client` with the named :data:`TIMEOUT` /
  :data:`LIMITS` (or a caller's timeout), optionally on an injected transport.
- :func:`map_httpx_error` turns httpx transport failures (timeouts, refused or dropped
  connections, protocol errors) into :class:`~generation.errors.TransientError`.
- :func:`map_status` is the generic HTTP-status mapping (400/422 → InvalidRequest,
  401/403 → AuthError naming the setting, 402 → QuotaExceeded, 429 → RateLimited with
  ``retry_after``, 5xx/408 → TransientError). Provider modules look at the body first
  (business error codes) and fall back to it.
- :func:`parse_json` reads a JSON body; malformed JSON is a TransientError.
- :func:`call_with_retries` retries only ``TransientError`` (and its ``RateLimited``) under
  the shared :class:`retrypolicy.RetryPolicy` (the same statuses, backoff and
  ``Retry-After`` rules as the planner's LLM client and the vision reader). Everything
  else (invalid request, content rejected, quota, auth, missing key) is raised at once.
- :func:`poll` waits for a queued task; :func:`download` fetches a result URL (they expire,
  so fetch at once); :func:`decode_image_b64`, :func:`data_uri` and
  :func:`sniff_media_type` decode, encode and recognise images.
- :func:`secret` reads a ``SecretStr``; :func:`redact` strips keys (and anything that looks
  like an ``Authorization`` value or a signed-URL query) from text before it goes into an
  error message or a log line.

Error messages always name the backend and the attempt (via ``BackendError``) and never
contain a key.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from generation.base import GeneratedImage
from retrypolicy import MAX_RETRY_AFTER_S, RetryPolicy, parse_retry_after
from generation.errors import (
    AuthError,
    BackendError,
    InvalidRequest,
    QuotaExceeded,
    RateLimited,
    TransientError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""Default per-request timeout: 60 s to read/write/pool, 10 s to connect."""

DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""Timeout for fetching result images from a provider's CDN."""

LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=30.0)
"""Connection-pool limits for one backend instance."""

CONNECT_TIMEOUT_S = 10.0
"""Connect timeout used when a caller gives only an overall ``timeout_s``."""

USER_AGENT = "signwriter/0.1"

ERROR_BODY_CHARS = 300
"""How much of a provider's error body goes into an error message (after redaction)."""

__all__ = ["MAX_RETRY_AFTER_S", "RetryPolicy", "parse_retry_after"]  # and everything below


# --- secrets ---------------------------------------------------------------------------

def secret(value: SecretStr | str | None) -> str:
    """The plain value of a key held as ``SecretStr`` (or a plain str); ``""`` when unset.

    Use it only to build a request header, never to format a message.
    """
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


_AUTH_PATTERNS = (
    # "Authorization: Bearer abc", "Key abc", "Token abc" (header values echoed back)
    # (credential-like: 12+ characters with a digit, so prose such as "token expired" stays)
    re.compile(r"(?i)\b(bearer|key|token|basic)\s+(?=\S*\d)[A-Za-z0-9._~+/=:\-]{12,}"),
    # api_key=..., "apiKey": "...", x-api-key: ...
    re.compile(r"(?i)((?:api[_-]?key|apikey|access[_-]?token|secret|password|authorization)"
               r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]+)"),
)


def redact(text: str, *secrets: SecretStr | str | None) -> str:
    """Remove every given secret, and anything that looks like a credential, from ``text``.

    Apply to every piece of provider or transport text before it reaches an error
    message, a log line or metadata.
    """
    out = str(text)
    for s in secrets:
        value = secret(s)
        if value and len(value) >= 4:
            out = out.replace(value, "***")
    out = _AUTH_PATTERNS[0].sub(lambda m: f"{m.group(1)} ***", out)
    out = _AUTH_PATTERNS[1].sub(lambda m: f"{m.group(1)}***", out)
    return out


def safe_url(url: str | httpx.URL) -> str:
    """A URL for messages: scheme, host and path only (signed query strings dropped)."""
    try:
        u = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<url>"
    return str(u.copy_with(query=None, fragment=None, username=None, password=None))


# --- client ----------------------------------------------------------------------------

def make_client(*, base_url: str = "", timeout_s: float | None = None,
                headers: dict[str, str] | None = None,
                transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An :class:`httpx.Client` with the shared :data:`LIMITS` and a timeout.

    ``timeout_s`` (a backend's ``Options.timeout_s``) replaces :data:`TIMEOUT`'s read/write
    /pool values; the connect timeout is ``min(CONNECT_TIMEOUT_S, timeout_s)``. Pass a
    ``transport`` (``httpx.MockTransport`` in unit tests) instead of patching.
    """
    timeout = TIMEOUT if timeout_s is None else httpx.Timeout(
        timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
    all_headers = {"User-Agent": USER_AGENT}
    all_headers.update(headers or {})
    return httpx.Client(base_url=base_url, timeout=timeout, limits=LIMITS,
                        headers=all_headers, transport=transport, follow_redirects=True)


# --- mapping ---------------------------------------------------------------------------

def map_httpx_error(exc: httpx.HTTPError, backend: str, attempt: str | None,
                    *secrets: SecretStr | str | None) -> BackendError:
    """Map an httpx transport failure to the error tree (a ``TransientError`` for every
    timeout, connect error, dropped connection or protocol error)."""
    where = ""
    try:
        request = exc.request
    except RuntimeError:  # raised by httpx when the error carries no request
        request = None
    if request is not None:
        where = f" ({request.method} {safe_url(request.url)})"
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        msg = f"request timed out{where}: {kind}"
    elif isinstance(exc, httpx.ConnectError):
        msg = f"could not connect{where}: {kind}"
    elif isinstance(exc, httpx.RemoteProtocolError):
        msg = f"connection dropped or broken response{where}: {kind}"
    elif isinstance(exc, httpx.HTTPStatusError):
        mapped = map_status(exc.response, backend, attempt, secrets=secrets)
        if mapped is not None:
            return mapped
        msg = f"unexpected HTTP status {exc.response.status_code}{where}"
    elif isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return InvalidRequest(f"invalid URL{where}: {kind}", backend=backend, attempt=attempt)
    else:
        msg = f"network error{where}: {kind}"
    detail = redact(str(exc), *secrets)
    if detail:
        msg = f"{msg}: {detail[:ERROR_BODY_CHARS]}"
    return TransientError(msg, backend=backend, attempt=attempt,
                          maybe_processed=isinstance(exc, _SENT_THEN_LOST))


_SENT_THEN_LOST = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
                   httpx.RemoteProtocolError)
"""Failures after (part of) the request went out: the provider may have acted on it.
Connect errors and connect/pool timeouts mean it never left."""


def body_excerpt(response: httpx.Response, *secrets: SecretStr | str | None) -> str:
    """A short, redacted excerpt of a response body, for error messages."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    text = " ".join(text.split())
    return redact(text[:ERROR_BODY_CHARS], *secrets)


def map_status(response: httpx.Response, backend: str, attempt: str | None, *,
               setting: str | None = None, detail: str | None = None,
               secrets: Iterable[SecretStr | str | None] = ()) -> BackendError | None:
    """The generic HTTP-status mapping; ``None`` for a 2xx/3xx response.

    ``setting`` names the env var of the key (for 401/403); ``detail`` replaces the body
    excerpt in the message (providers pass their parsed error message). Provider modules
    check their business error codes first and use this as the fallback.
    """
    status = response.status_code
    if status < 400:
        return None
    secrets = tuple(secrets)
    text = redact(detail, *secrets) if detail is not None else body_excerpt(response, *secrets)
    suffix = f": {text}" if text else ""
    kw: dict[str, Any] = {"backend": backend, "attempt": attempt}
    if status in (401, 403):
        fix = f"check {setting}" if setting else "check the API key"
        return AuthError(f"the provider refused the credential (HTTP {status}); {fix}{suffix}",
                         **kw)
    if status == 402:
        return QuotaExceeded(f"payment required / balance exhausted (HTTP 402){suffix}", **kw)
    if status == 429:
        return RateLimited(f"rate limited (HTTP 429){suffix}",
                           retry_after=parse_retry_after(response.headers), **kw)
    if RetryPolicy().retryable_status(status):
        return TransientError(f"provider error (HTTP {status}){suffix}", **kw)
    if status in (400, 404, 405, 409, 413, 415, 422) or 400 <= status < 500:
        return InvalidRequest(f"request rejected (HTTP {status}){suffix}", **kw)
    return TransientError(f"unexpected HTTP {status}{suffix}", **kw)  # pragma: no cover


def parse_json(response: httpx.Response, backend: str, attempt: str | None,
               *secrets: SecretStr | str | None) -> Any:
    """The JSON body of ``response``; malformed or non-JSON bodies → ``TransientError``."""
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TransientError(
            f"malformed JSON from {safe_url(response.request.url)} "
            f"(HTTP {response.status_code}): {body_excerpt(response, *secrets)[:120]!r}",
            backend=backend, attempt=attempt,
            maybe_processed=response.is_success) from exc


# --- retries and polling -------------------------------------------------------------

def call_with_retries(fn: Callable[[], T], *, backend: str, attempt: str | None,
                      policy: RetryPolicy, secrets: Iterable[SecretStr | str | None] = (),
                      on_retry: Callable[[BackendError], None] | None = None) -> T:
    """Call ``fn`` and retry it on ``TransientError`` / ``RateLimited`` under ``policy``.

    The wait is the policy's (full jitter over exponential backoff, or the error's
    ``retry_after`` from a ``Retry-After`` header). ``InvalidRequest``,
    ``ContentRejected``, ``QuotaExceeded``, ``AuthError``, ``NeedsKey`` and ``Unsupported``
    are raised at once. A raw ``httpx.HTTPError`` escaping ``fn`` is mapped with
    :func:`map_httpx_error`. The last error is raised when retries run out.
    ``on_retry(failure)`` is called before each retry (see :class:`UncertainCharges`).
    """
    secrets = tuple(secrets)

    def mapped() -> T:
        try:
            return fn()
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc, backend, attempt, *secrets) from exc

    def note(failure: BaseException, n: int, delay: float) -> None:
        log.warning("%s: retry %d/%d in %.2fs after %s: %s", backend, n, policy.max_retries,
                    delay, type(failure).__name__, getattr(failure, "detail", failure))
        if on_retry is not None and isinstance(failure, BackendError):
            on_retry(failure)

    return policy.call(mapped, should_retry=lambda e: isinstance(e, TransientError),
                       on_retry=note)


def request_json(client: httpx.Client, method: str, url: str, *, key: SecretStr,
                 headers: dict[str, str], backend: str, attempt: str | None,
                 to_error: Callable[[httpx.Response], BackendError | None],
                 policy: RetryPolicy,
                 on_retry: Callable[[BackendError], None] | None = None,
                 **kwargs: Any) -> dict[str, Any]:
    """One JSON API call with retries: transport failures mapped, the provider's own error
    mapping (``to_error``) applied, a body that is not a JSON object treated as transient."""

    def once() -> dict[str, Any]:
        try:
            response = client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc, backend, attempt, key) from exc
        err = to_error(response)
        if err is not None:
            raise err
        body = parse_json(response, backend, attempt, key)
        if not isinstance(body, dict):
            raise TransientError(f"unexpected response shape from {safe_url(url)}",
                                 backend=backend, attempt=attempt)
        return body

    return call_with_retries(once, backend=backend, attempt=attempt, policy=policy,
                             secrets=(key,), on_retry=on_retry)


class UncertainCharges:
    """What a paid generation may have cost beyond what it reports, for the budget and the
    ledger: providers without an idempotency key may charge for every send of a submit.

    * a submit re-sent after a failure that may have been carried out
      (``TransientError.maybe_processed``: no answer after the request went out) may have
      been charged for that earlier send;
    * a generation that then fails still costs its price if the provider had accepted the
      submit (the task runs and is billed) or if the last send went unanswered.
    ::

        def run(charges):                     # through with_charges(price_usd, run)
            submitted = request_json(..., on_retry=charges.on_retry)   # the submit only
            charges.accept()
            ...                               # poll, download
            return image
    """

    def __init__(self, price_usd: float) -> None:
        self.price_usd = price_usd
        self.count = 0
        self.accepted = False

    def on_retry(self, failure: BackendError) -> None:
        if getattr(failure, "maybe_processed", False):
            self.count += 1

    def accept(self) -> None:
        """The provider accepted the submit (it answered)."""
        self.accepted = True

    @property
    def usd(self) -> float:
        """Possibly charged on top of a successful generation's own cost."""
        return round(self.count * self.price_usd, 6)

    def note(self, error: BackendError) -> BackendError:
        """``error`` (the generation failed) with what it may have cost added to its
        ``possibly_charged_usd``."""
        lost = self.accepted or bool(getattr(error, "maybe_processed", False))
        error.possibly_charged_usd = round(
            error.possibly_charged_usd + self.usd + (self.price_usd if lost else 0.0), 6)
        return error


def with_charges(price_usd: float, run: Callable[[UncertainCharges], GeneratedImage]
                 ) -> GeneratedImage:
    """One paid generation, ``run(charges)``, with what it may have cost beyond its own
    ``cost_usd`` on the result (``possibly_charged_usd``) or on the error it raises."""
    charges = UncertainCharges(price_usd)
    try:
        image = run(charges)
    except BackendError as e:
        raise charges.note(e)
    return image.model_copy(update={"possibly_charged_usd": charges.usd})


def poll(check: Callable[[], T | None], *, backend: str, attempt: str | None,
         interval_s: float, timeout_s: float, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic, what: str = "task") -> T:
    """Call ``check`` every ``interval_s`` until it returns a value; ``TransientError``
    when ``timeout_s`` passes first (the caller's handle can still resume the task)."""
    deadline = clock() + timeout_s
    while True:
        result = check()
        if result is not None:
            return result
        if clock() >= deadline:
            raise TransientError(f"{what} still not finished after {timeout_s:.0f}s; "
                                 "resume it later with its recorded handle",
                                 backend=backend, attempt=attempt)
        sleep(interval_s)


# --- requests --------------------------------------------------------------------------

# --- images ----------------------------------------------------------------------------

def sniff_media_type(data: bytes) -> str | None:
    """``image/png`` / ``image/jpeg`` / ``image/webp`` from magic bytes; ``None`` otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_image_b64(value: str, *, backend: str, attempt: str | None,
                     what: str = "the image") -> tuple[bytes, str]:
    """Decode base64 image data (plain or a ``data:...;base64,`` URL) → ``(bytes, media)``.

    Broken base64 or bytes that are not PNG/JPEG/WebP → ``TransientError`` naming ``what``.
    """
    raw = value.strip()
    if raw.startswith("data:"):
        raw = raw.split(",", 1)[-1]
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TransientError(f"{what} is not valid base64", backend=backend,
                             attempt=attempt) from exc
    media = sniff_media_type(data)
    if media is None:
        raise TransientError(f"{what} is not a PNG/JPEG/WebP image ({len(data)} bytes)",
                             backend=backend, attempt=attempt)
    return data, media


def data_uri(path: str | Path) -> str:
    """A ``data:`` URI for an image file (for providers that accept inline inputs)."""
    data = Path(path).read_bytes()
    media = sniff_media_type(data) or "image/png"
    return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"


DOWNLOAD_RETRIES = RetryPolicy(max_retries=2, base_delay_s=0.5, max_delay_s=10.0)
"""How a result image is fetched again when the caller gives no policy."""


def download(url: str, *, backend: str, attempt: str | None,
             client: httpx.Client | None = None, policy: RetryPolicy = DOWNLOAD_RETRIES,
             secrets: Iterable[SecretStr | str | None] = ()) -> tuple[bytes, str]:
    """Fetch a result image at once; returns ``(bytes, media_type)``.

    ``client`` must carry no auth headers (backends send keys per request, so their own
    client qualifies); without one a fresh client is used. Timeouts, dropped connections
    and 5xx/429 are retried. A 403/404/410 is retried too (CDNs can lag a moment behind
    the API) and, if it persists, raised as a ``TransientError`` saying plainly that the
    paid result URL is gone or expired. A body that is not an image is a
    ``TransientError``.
    """
    secrets = tuple(secrets)
    shown = safe_url(url)
    own = client is None
    http = make_client() if client is None else client

    def once() -> tuple[bytes, str]:
        try:
            response = http.get(url, timeout=DOWNLOAD_TIMEOUT if own else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise map_httpx_error(exc, backend, attempt, *secrets) from exc
        if response.status_code in (403, 404, 410):
            raise TransientError(
                f"result image URL {shown} is gone or expired (HTTP {response.status_code}) "
                "after the provider accepted the task; the image must be fetched at once",
                backend=backend, attempt=attempt)
        err = map_status(response, backend, attempt, secrets=secrets)
        if err is not None:
            if isinstance(err, TransientError):
                raise err
            raise TransientError(f"downloading {shown}: {err.detail}",
                                 backend=backend, attempt=attempt)
        data = response.content
        media = sniff_media_type(data)
        if media is None:
            raise TransientError(f"result at {shown} is not an image "
                                 f"({response.headers.get('content-type', '?')}, "
                                 f"{len(data)} bytes)", backend=backend, attempt=attempt)
        return data, media

    try:
        return call_with_retries(once, backend=backend, attempt=attempt, policy=policy,
                                 secrets=secrets)
    finally:
        if own:
            http.close()

