"""A provider account's limits, honoured by every worker at once: requests in flight
(``SIGNWRITER_PROVIDER_MAX_IN_FLIGHT``) and requests started per minute
(``SIGNWRITER_PROVIDER_REQUESTS_PER_MIN``).

Both live in Redis (the broker: every worker reaches it), as sorted sets per backend
updated by one Lua script, on Redis's own clock: ``<prefix>:limit:<backend>:inflight``
holds one member per request in flight, scored with its expiry (a worker that dies frees
its slot when the expiry passes; the worker's heartbeat pushes the expiry of the slots it
holds); ``…:started`` holds one member per request started in the last 60 s. A generation
waits for a slot before it submits (:class:`ProviderLimit` is the ``slots`` of a worker's
:class:`~agents.state.Context`, held around the provider call, polls included).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

from agents.settings import Settings

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local ttl, most, per_min, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if most > 0 and redis.call('ZCARD', KEYS[1]) >= most then return 0 end
if per_min > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60)
  if redis.call('ZCARD', KEYS[2]) >= per_min then return 0 end
  redis.call('ZADD', KEYS[2], now, token)
  redis.call('EXPIRE', KEYS[2], 120)
end
if most > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, token)
  redis.call('EXPIRE', KEYS[1], math.ceil(ttl) + 60)
end
return 1
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local n = 0
for i = 1, #ARGV - 1 do
  n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[#ARGV]), ARGV[i])
end
return n
"""

_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _redis(url: str) -> Any:
    import redis
    with _CLIENTS_LOCK:
        if url not in _CLIENTS:
            _CLIENTS[url] = redis.Redis.from_url(url)
        return _CLIENTS[url]


def configured(settings: Settings) -> bool:
    return bool(settings.provider_max_in_flight or settings.provider_requests_per_min)


class ProviderLimit:
    """``with limit:`` — wait for a cluster-wide slot of the backend's account (and a
    local one: ``local`` bounds this worker's own requests), hold it for the provider call."""

    def __init__(self, settings: Settings, backend: str,
                 local: threading.BoundedSemaphore | None = None) -> None:
        self.settings = settings
        self.backend = backend
        self.local = local or threading.BoundedSemaphore(256)
        base = f"{settings.queue_prefix}:limit:{backend}"
        self.keys = [f"{base}:inflight", f"{base}:started"]
        self.ttl = settings.lease_ttl_s
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def __enter__(self) -> "ProviderLimit":
        self.local.acquire()
        r = _redis(self.settings.broker_url or "")
        token = uuid.uuid4().hex
        start = time.monotonic()
        try:
            while not r.eval(_TAKE, 2, *self.keys, self.ttl,
                             self.settings.provider_max_in_flight or 0,
                             self.settings.provider_requests_per_min or 0, token):
                time.sleep(0.05 + random.random() * 0.1)
        except BaseException:
            self.local.release()
            raise
        with self._lock:
            self._held.add(token)
            self.waited_s += time.monotonic() - start
        _LIVE.add(self)
        _current.value = token
        return self

    def __exit__(self, *exc: object) -> None:
        token = _current.value
        with self._lock:
            self._held.discard(token)
        try:
            _redis(self.settings.broker_url or "").zrem(self.keys[0], token)
        finally:
            self.local.release()

    def renew(self) -> None:
        """Push the expiry of the slots held here (the worker's heartbeat calls this)."""
        with self._lock:
            held = list(self._held)
        if held:
            _redis(self.settings.broker_url or "").eval(_RENEW, 1, self.keys[0], *held,
                                                        self.ttl)


_current = threading.local()
"""The slot token of the request this thread holds (one at a time per thread)."""


class _Live:
    """Every :class:`ProviderLimit` of this process with slots held, for the heartbeat."""

    def __init__(self) -> None:
        self._items: dict[int, ProviderLimit] = {}
        self._lock = threading.Lock()

    def add(self, limit: ProviderLimit) -> None:
        with self._lock:
            self._items[id(limit)] = limit

    def renew_all(self) -> None:
        with self._lock:
            items = list(self._items.values())
        for limit in items:
            limit.renew()
        with self._lock:
            for k, v in list(self._items.items()):
                if not v._held:
                    del self._items[k]


_LIVE = _Live()
renew_all = _LIVE.renew_all
