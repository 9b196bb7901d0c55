"""One retry policy for every HTTP call signwriter makes: image backends (``generation``),
the planner's LLM client (``agents``) and the vision reader (``qa``).

Which answers are worth another try (:data:`RETRY_STATUSES`, any other 5xx, timeouts and
dropped connections), how long to wait (full-jitter exponential backoff, or the server's
``Retry-After``, capped), and how many times: all here, so the three callers cannot drift
apart again::

    policy = RetryPolicy(max_retries=3, base_delay_s=1.0)
    response = policy.send(lambda: client.post(url, json=body))   # a plain HTTP call
    result = policy.call(fn, should_retry=lambda e: isinstance(e, TransientError))

:meth:`RetryPolicy.send` is the whole loop for a plain HTTP call (the LLM client, the
vision reader): it returns the answer that ends it — a success, or a status not worth
retrying — and raises :class:`Retryable` (what went wrong last) when the retries run out.
Image backends map errors to their own tree and use :meth:`RetryPolicy.call`.

The loop itself is tenacity's (``Retrying``: stop after ``1 + max_retries`` calls, the
wait below, the original failure re-raised); this module only says *which* failures are
worth another try and *how long* to wait, which tenacity leaves to its caller.

Why a package of its own: ``generation`` and ``qa`` are libraries that never import each
other or ``agents``; this is the one piece all three share, so it sits below them and
imports nothing of the project (only httpx, which they all use, and tenacity).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
"""Answers that mean "not now": a timeout, too early, too many requests, a server or
gateway failure. Any other 5xx is retried too (:meth:`RetryPolicy.retryable_status`)."""

MAX_RETRY_AFTER_S = 300.0
"""The longest ``Retry-After`` honoured; a server asking for more waits this long."""


def parse_retry_after(headers: httpx.Headers | Mapping[str, str], *,
                      now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or HTTP-date) or
    ``retry-after-ms``; ``None`` when absent or unreadable. Capped at MAX_RETRY_AFTER_S."""
    h = httpx.Headers(headers)
    ms = h.get("retry-after-ms")
    if ms:
        try:
            return min(max(float(ms) / 1000.0, 0.0), MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    raw = (h.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return min(max(float(raw), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - (now or datetime.now(UTC))).total_seconds(), 0.0),
               MAX_RETRY_AFTER_S)


class Retryable(Exception):
    """A failure that may pass: raised inside :meth:`RetryPolicy.call` to ask for another
    try, and by :meth:`RetryPolicy.send` when the tries ran out (``problem`` says what went
    wrong last; ``response`` is the last answer, if one came)."""

    def __init__(self, problem: str, *, status: int | None = None,
                 retry_after: float | None = None,
                 response: httpx.Response | None = None) -> None:
        self.problem = problem
        self.status = status
        self.retry_after = retry_after
        self.response = response
        super().__init__(problem)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again.

    ``max_retries`` retries (``1 + max_retries`` calls in all); the n-th waits a uniform
    random time in ``[0, min(max_delay_s, base_delay_s * 2**n)]`` (full jitter), or the
    failure's ``retry_after`` when the server gave one (at most ``max_retry_after_s``).
    ``sleep`` and ``rng`` are injectable for tests.
    """

    max_retries: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    statuses: frozenset[int] = RETRY_STATUSES
    max_retry_after_s: float = MAX_RETRY_AFTER_S
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def retryable_status(self, status: int) -> bool:
        """Whether an HTTP answer with this status is worth another try."""
        return status in self.statuses or status >= 500

    @staticmethod
    def retryable_exception(exc: BaseException) -> bool:
        """Whether an httpx failure is worth another try: timeouts, refused or dropped
        connections, broken responses (not a malformed URL or an unsupported scheme)."""
        return isinstance(exc, httpx.TransportError) and not isinstance(
            exc, httpx.UnsupportedProtocol)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), self.max_retry_after_s)
        return min(self.max_delay_s, self.base_delay_s * (2 ** retry)) * self.rng()

    def send(self, request: Callable[[], httpx.Response]) -> httpx.Response:
        """``request()`` (one HTTP call), tried again after timeouts, failed connections
        and retryable statuses. Returns the answer that ends it (a success, or a status not
        worth retrying); raises :class:`Retryable` with the last problem when the retries
        run out."""
        def once() -> httpx.Response:
            try:
                response = request()
            except httpx.TimeoutException as exc:
                raise Retryable("timed out") from exc
            except httpx.HTTPError as exc:
                if not self.retryable_exception(exc):
                    raise
                raise Retryable(f"could not be reached ({type(exc).__name__})") from exc
            if self.retryable_status(response.status_code):
                raise Retryable(f"answered HTTP {response.status_code}",
                                status=response.status_code,
                                retry_after=parse_retry_after(response.headers),
                                response=response)
            return response

        return self.call(once)

    def call(self, fn: Callable[[], T], *,
             should_retry: Callable[[BaseException], bool] = lambda e: isinstance(e, Retryable),
             on_retry: Callable[[BaseException, int, float], None] | None = None) -> T:
        """``fn()``, tried again after each failure that ``should_retry`` accepts (by
        default a :class:`Retryable`), until it succeeds or the retries run out (then the
        last failure is raised).

        The wait honours the failure's ``retry_after`` attribute when it has one.
        ``on_retry(failure, retry_number, delay_s)`` is called before each wait.
        """
        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            return self.delay(state.attempt_number - 1, getattr(failure, "retry_after", None))

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None:
                sleep_s = state.next_action.sleep if state.next_action else 0.0
                on_retry(state.outcome.exception(), state.attempt_number, sleep_s)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1), wait=wait, sleep=self.sleep,
            retry=retry_if_exception(lambda e: isinstance(e, Exception) and should_retry(e)),
            before_sleep=before_sleep, reraise=True)
        return retrying(fn)
