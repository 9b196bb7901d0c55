"""A pool of self-hosted image servers: a concurrency limit per server, least-loaded
choice, and fail-over when a server cannot be reached.

Self-hosted backends (``openai-images`` on SGLang, ``vllm-omni``) take a *list* of server
URLs. Each server runs a few generations at a time at most (a GPU holds one model), so
the pool:

- keeps a count of requests in flight per server and never lets it pass
  ``per_server_concurrency`` (a counting semaphore per server, all under one condition
  so the choice of server and the acquisition are one step);
- hands out the **least-loaded healthy** server, ties broken by who was used least
  recently;
- marks a server **down** for ``cooldown_s`` after a connection failure (refused,
  connect timeout) and lets the same call fail over to another server at once; when every
  server is down, the one whose cool-down ends first is tried again (half-open), so a
  pool recovers without a restart;
- is shared per process: :func:`get_pool` returns one pool per ``(urls, concurrency)``
  so every backend instance pointing at the same servers respects the same limits.

:class:`PooledServerOptions` holds the options every pooled backend shares and
:class:`PooledBackend` the plumbing (one HTTP client, retries around fail-over, error
mapping, the result), so a provider module only builds its request and reads its answer.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from generation.base import Capabilities, GeneratedImage
from generation.errors import InvalidRequest, TransientError
from generation.limits import GLM_IMAGE_LIMITS
from generation.http import (
    call_with_retries,
    download,
    make_client,
    map_status,
    safe_url,
    secret,
    sniff_media_type,
)
from retrypolicy import RetryPolicy

T = TypeVar("T")

DEFAULT_COOLDOWN_S = 30.0
"""How long a server that refused a connection is skipped."""

DEFAULT_WAIT_S = 600.0
"""How long a call waits for a free slot on a healthy server before giving up."""

CONNECTION_FAILURES = (httpx.ConnectError, httpx.ConnectTimeout)
"""Transport errors that mean "this server is not there": mark it down and fail over."""


@dataclass(frozen=True)
class ServerStatus:
    """A snapshot of one server in a pool."""

    url: str
    in_flight: int
    max_in_flight: int
    limit: int
    healthy: bool
    served: int
    failures: int


@dataclass
class _Server:
    url: str
    in_flight: int = 0
    max_in_flight: int = 0
    down_until: float = 0.0
    served: int = 0
    failures: int = 0
    last_used: int = 0


class ServerPool:
    """Servers with a concurrency limit each; see the module docstring."""

    def __init__(self, urls: Collection[str], *, per_server_concurrency: int = 1,
                 cooldown_s: float = DEFAULT_COOLDOWN_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        cleaned = [u.rstrip("/") for u in urls if u and u.strip()]
        if not cleaned:
            raise InvalidRequest("a server pool needs at least one URL", backend="pool")
        if per_server_concurrency < 1:
            raise InvalidRequest("per_server_concurrency must be at least 1", backend="pool")
        self.limit = per_server_concurrency
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._servers = {u: _Server(u) for u in dict.fromkeys(cleaned)}
        self._cond = threading.Condition()
        self._ticks = 0

    @property
    def urls(self) -> list[str]:
        return list(self._servers)

    # --- health ------------------------------------------------------------------------

    def is_healthy(self, url: str) -> bool:
        with self._cond:
            return self._servers[url].down_until <= self._clock()

    def mark_down(self, url: str) -> None:
        """Skip ``url`` for ``cooldown_s`` (after a connection failure)."""
        with self._cond:
            server = self._servers[url]
            server.down_until = self._clock() + self.cooldown_s
            server.failures += 1
            self._cond.notify_all()

    def mark_up(self, url: str) -> None:
        """``url`` answered: it is healthy again."""
        with self._cond:
            server = self._servers[url]
            server.down_until = 0.0
            server.served += 1

    def snapshot(self) -> list[ServerStatus]:
        with self._cond:
            now = self._clock()
            return [ServerStatus(s.url, s.in_flight, s.max_in_flight, self.limit,
                                 s.down_until <= now, s.served, s.failures)
                    for s in self._servers.values()]

    # --- leasing -------------------------------------------------------------------------

    def _choose(self, exclude: Collection[str]) -> _Server | None | bool:
        """The server to use now; ``None`` = wait for a slot; ``False`` = none left."""
        now = self._clock()
        untried = [s for s in self._servers.values() if s.url not in exclude]
        if not untried:
            return False
        healthy = [s for s in untried if s.down_until <= now]
        if healthy:
            free = [s for s in healthy if s.in_flight < self.limit]
            if not free:
                return None
            return min(free, key=lambda s: (s.in_flight, s.last_used))
        # every untried server is cooling down: probe the one that comes back first
        probe = min(untried, key=lambda s: s.down_until)
        return probe if probe.in_flight < self.limit else None

    def _acquire(self, exclude: Collection[str], backend: str, attempt: str | None,
                 wait_s: float) -> _Server:
        deadline = self._clock() + wait_s
        with self._cond:
            while True:
                choice = self._choose(exclude)
                if choice is False:
                    raise TransientError(
                        f"no reachable server among {len(self._servers)}: "
                        f"{', '.join(safe_url(u) for u in self._servers)}",
                        backend=backend, attempt=attempt)
                if isinstance(choice, _Server):
                    server = choice
                    break
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise TransientError(f"every server busy for {wait_s:.0f}s "
                                         f"({self.limit} in flight each)",
                                         backend=backend, attempt=attempt)
                self._cond.wait(timeout=min(remaining, 1.0))
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            self._ticks += 1
            server.last_used = self._ticks
            return server

    def _release(self, server: _Server) -> None:
        with self._cond:
            server.in_flight -= 1
            self._cond.notify_all()

    @contextmanager
    def lease(self, *, exclude: Collection[str] = (), backend: str = "",
              attempt: str | None = None, wait_s: float = DEFAULT_WAIT_S) -> Iterator[str]:
        """Hold one slot on the best server (its URL) for the ``with`` block.

        Waits up to ``wait_s`` while every healthy server is at its limit. Raises
        ``TransientError`` when every server is in ``exclude`` or the wait runs out.
        """
        server = self._acquire(exclude, backend, attempt, wait_s)
        try:
            yield server.url
        finally:
            self._release(server)

    def call(self, send: Callable[[str], T], *, backend: str, attempt: str | None,
             wait_s: float = DEFAULT_WAIT_S) -> T:
        """Run ``send(url)`` on the best server, failing over on connection failures.

        A connection failure marks that server down and the same call moves on to the
        next server; when none is left a ``TransientError`` says so (the caller's retry
        loop decides whether to try again). Every other error propagates unchanged.
        """
        tried: list[str] = []
        last: BaseException | None = None
        while True:
            try:
                server = self._acquire(tried, backend, attempt, wait_s)
            except TransientError:
                if last is None:
                    raise
                raise TransientError(
                    f"could not connect to any server ({len(tried)} tried: "
                    f"{', '.join(safe_url(u) for u in tried)}; last: {type(last).__name__})",
                    backend=backend, attempt=attempt) from last
            try:
                result = send(server.url)
            except CONNECTION_FAILURES as exc:
                last = exc
                self.mark_down(server.url)
                tried.append(server.url)
                continue
            finally:
                self._release(server)
            self.mark_up(server.url)
            return result


_POOLS: dict[tuple[tuple[str, ...], int], ServerPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(urls: Collection[str], per_server_concurrency: int,
             cooldown_s: float = DEFAULT_COOLDOWN_S) -> ServerPool:
    """The process-wide pool for these servers and this limit (created on first use)."""
    key = (tuple(u.rstrip("/") for u in urls), per_server_concurrency)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = ServerPool(key[0], per_server_concurrency=per_server_concurrency,
                              cooldown_s=cooldown_s)
            _POOLS[key] = pool
        return pool


def clear_pools() -> None:
    """Forget every shared pool (tests; a new configuration)."""
    with _POOLS_LOCK:
        _POOLS.clear()


class PooledServerOptions(BaseModel):
    """Options shared by every backend that talks to a list of self-hosted servers."""

    model_config = ConfigDict(extra="forbid")

    urls_setting: ClassVar[str] = "SIGNWRITER_..._URLS"
    key_setting: ClassVar[str] = "SIGNWRITER_..._API_KEY"

    urls: list[str] = Field(default_factory=list, description="Base URLs of the servers, "
                            'as a JSON list: ["http://gpu-1:30000", "http://gpu-2:30000"].')
    api_key: SecretStr | None = Field(default=None, description="Bearer token, if the "
                                      "servers were started with one.")
    per_server_concurrency: int = Field(default=1, ge=1, le=64,
                                        description="Requests in flight per server at most.")
    timeout_s: float = Field(default=600.0, gt=0, description="Per-request timeout (a "
                             "GLM-Image generation takes tens of seconds).")
    max_retries: int = Field(default=2, ge=0, le=10,
                             description="Retries after a transient failure.")
    backoff_base_s: float = Field(default=1.0, ge=0, description="Base of the exponential "
                                  "backoff between retries.")
    cooldown_s: float = Field(default=DEFAULT_COOLDOWN_S, ge=0, description="How long a "
                              "server that refused a connection is skipped.")
    model: str = Field(default="zai-org/GLM-Image", description="Model name sent to the server.")
    steps: int | None = Field(default=None, ge=1, le=200, description="num_inference_steps; "
                              "None = the server's default.")
    guidance_scale: float | None = Field(default=None, ge=0, le=20,
                                         description="None = the server's default.")

    @field_validator("urls", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [u.strip() for u in value.split(",") if u.strip()]
        return value

    def require_urls(self, backend: str, attempt: str | None) -> list[str]:
        """The configured URLs; ``InvalidRequest`` naming the setting when there are none."""
        urls = [u.strip().rstrip("/") for u in self.urls if u and u.strip()]
        if not urls:
            raise InvalidRequest(f"no server URLs configured: set {self.urls_setting} "
                                 "(comma-separated base URLs)", backend=backend,
                                 attempt=attempt)
        return urls


def provider_message(response: httpx.Response) -> str | None:
    """The error message in an OpenAI-style (``{"error": {"message"}}``) or FastAPI-style
    (``{"detail": ...}``) error body; ``None`` when the body has neither."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    detail = body.get("detail") or body.get("message")
    if detail:
        return detail if isinstance(detail, str) else json.dumps(detail)[:300]
    return None


class PooledBackend:
    """The plumbing a pooled self-hosted backend shares: options, the shared pool, one
    HTTP client, retries around fail-over, error mapping and the result.

    Subclasses set ``name`` and ``options_class`` (``capabilities`` when they differ) and
    implement ``generate``/``edit`` with :meth:`_request`.
    """

    name: ClassVar[str] = "pooled"
    options_class: ClassVar[type[PooledServerOptions]] = PooledServerOptions
    capabilities: ClassVar[Capabilities] = Capabilities(edit=True, limits=GLM_IMAGE_LIMITS)
    """Self-hosted GLM-Image: text-to-image and edit, free, at the open model's sizes."""

    def __init__(self, *, transport: httpx.BaseTransport | None = None,
                 **options: Any) -> None:
        self.options = self.options_class(**options)
        urls = self.options.require_urls(self.name, None)
        self.pool = get_pool(urls, self.options.per_server_concurrency,
                             self.options.cooldown_s)
        self._client = make_client(timeout_s=self.options.timeout_s, transport=transport)

    def close(self) -> None:
        self._client.close()

    def _headers(self) -> dict[str, str]:
        key = secret(self.options.api_key)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _check(self, response: httpx.Response, attempt: str | None) -> None:
        """Raise the mapped error for a non-2xx response."""
        if response.status_code < 400:
            return
        detail = provider_message(response)
        err = map_status(response, self.name, attempt, setting=self.options.key_setting,
                         detail=detail, secrets=(self.options.api_key,))
        if err is not None:
            raise err

    def _request(self, send: Callable[[httpx.Client, str], httpx.Response],
                 parse: Callable[[httpx.Response, str], T], *, attempt: str | None) -> T:
        """POST through the pool with retries: ``send(client, base_url)`` makes the request,
        ``parse(response, base_url)`` reads a 2xx answer (raising ``TransientError`` for a
        malformed one, which is retried)."""

        def once(base_url: str) -> T:
            response = send(self._client, base_url)
            self._check(response, attempt)
            return parse(response, base_url)

        return call_with_retries(
            lambda: self.pool.call(once, backend=self.name, attempt=attempt),
            backend=self.name, attempt=attempt, policy=self.retry,
            secrets=(self.options.api_key,))

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every call this backend makes (from its options)."""
        o = self.options
        return RetryPolicy(max_retries=o.max_retries, base_delay_s=o.backoff_base_s,
                           max_delay_s=max(o.backoff_base_s * 8, 0.001))

    def _download(self, url: str, attempt: str | None) -> tuple[bytes, str]:
        return download(url, backend=self.name, attempt=attempt, client=self._client,
                        policy=self.retry, secrets=(self.options.api_key,))

    def _result(self, data: bytes, media_type: str, *, seed: int, started: float,
                server: str, width: int, height: int,
                extra: dict[str, Any] | None = None) -> GeneratedImage:
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
        except (UnidentifiedImageError, OSError):
            pass  # sniffed as an image already; keep the requested size
        metadata: dict[str, Any] = {"server": safe_url(server)}
        if self.options.steps is not None:
            metadata["steps"] = self.options.steps
        if self.options.guidance_scale is not None:
            metadata["guidance_scale"] = self.options.guidance_scale
        metadata.update(extra or {})
        return GeneratedImage(data=data, media_type=media_type, width=width, height=height,
                              seed=seed, backend=self.name, model=self.options.model,
                              elapsed_s=time.monotonic() - started, cost_usd=0.0,
                              metadata=metadata)

    def _tuning(self, negative_prompt: str | None) -> dict[str, Any]:
        """The optional sampler fields both self-hosted APIs take, when set."""
        fields: dict[str, Any] = {}
        if self.options.steps is not None:
            fields["num_inference_steps"] = self.options.steps
        if self.options.guidance_scale is not None:
            fields["guidance_scale"] = self.options.guidance_scale
        if negative_prompt:
            fields["negative_prompt"] = negative_prompt
        return fields

    def _check_size(self, width: int, height: int, attempt: str | None) -> None:
        self.capabilities.limits.require(width, height, backend=self.name, attempt=attempt)

    def _read_source(self, path: str, attempt: str | None) -> bytes:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise InvalidRequest(f"source image not found: {path}", backend=self.name,
                                 attempt=attempt) from exc
        except OSError as exc:
            raise InvalidRequest(f"source image not readable: {path}", backend=self.name,
                                 attempt=attempt) from exc
        if sniff_media_type(data) is None:
            raise InvalidRequest(f"source image is not a PNG, JPEG or WebP file: {path}",
                                 backend=self.name, attempt=attempt)
        return data
