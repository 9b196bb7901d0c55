"""Errors raised by image backends.

Every backend wraps its transport and provider failures into this tree, naming the
backend and the attempt, so callers decide by *type* whether to retry, stop or give up::

    BackendError                      base: backend name + attempt id in the message
     ├── InvalidRequest               the request itself is wrong (size, params): never retried
     │    └── ImageAssetError         a brief's image file cannot be used (unreadable, huge)
     ├── ContentRejected              the provider's content filter refused: never retried
     ├── NeedsKey                     no API key configured: names the setting to set
     ├── AuthError                    the key was refused: names the setting to fix
     ├── QuotaExceeded                balance / quota exhausted: stops the run
     ├── TransientError               timeout, 5xx, dropped connection, bad JSON: retried
     │    └── RateLimited             429 / concurrency limit; carries retry_after seconds
     └── Unsupported                  the backend cannot do this (e.g. edit on a t2i-only API)

No message ever contains an API key: keys are held in ``SecretStr`` and never formatted.
"""

from __future__ import annotations


class BackendError(Exception):
    """Base class for every image-backend failure."""

    retryable: bool = False
    possibly_charged_usd: float = 0.0
    """What the provider may have charged for this call although it failed: submits that
    got no answer after they were sent, and were sent again (see :class:`TransientError`)."""

    def __init__(self, message: str, *, backend: str = "", attempt: str | None = None) -> None:
        self.backend = backend
        self.attempt = attempt
        self.detail = message
        where = backend or "backend"
        if attempt:
            where = f"{where}, attempt {attempt}"
        super().__init__(f"[{where}] {message}")


class InvalidRequest(BackendError):
    """The request is invalid for this backend (bad size, bad parameter). Never retried."""


class ImageAssetError(InvalidRequest):
    """A brief's image file (logo, product photo, background) cannot be used: unreadable,
    too large to decode safely, or an SVG that refers to other files."""


class ContentRejected(BackendError):
    """The provider's content filter refused the prompt or the image. Never retried."""

    def __init__(self, message: str, *, backend: str = "", attempt: str | None = None,
                 level: int | None = None) -> None:
        self.level = level
        super().__init__(message, backend=backend, attempt=attempt)


class NeedsKey(BackendError):
    """No credential is configured; the message names the setting (env var) to set."""

    def __init__(self, setting: str, *, backend: str = "", attempt: str | None = None) -> None:
        self.setting = setting
        super().__init__(f"no API key configured: set {setting}", backend=backend, attempt=attempt)


class AuthError(BackendError):
    """The provider refused the credential; the message names the setting to fix."""


class QuotaExceeded(BackendError):
    """Balance or quota exhausted. Stops the run: retrying cannot help."""


class TransientError(BackendError):
    """Timeout, 5xx, dropped connection, malformed response. Retried with backoff.

    ``maybe_processed``: the request reached the provider and no answer came back (a read
    timeout, a connection dropped mid-response, a garbled success body): it may have been
    carried out — and, for a paid submit, charged."""

    retryable = True

    def __init__(self, message: str, *, backend: str = "", attempt: str | None = None,
                 maybe_processed: bool = False) -> None:
        self.maybe_processed = maybe_processed
        super().__init__(message, backend=backend, attempt=attempt)


class RateLimited(TransientError):
    """Rate or concurrency limit hit. Retried after ``retry_after`` seconds when given."""

    def __init__(self, message: str, *, backend: str = "", attempt: str | None = None,
                 retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, backend=backend, attempt=attempt)


class Unsupported(BackendError):
    """The backend cannot perform this operation (for example image editing)."""
