"""The server pool: per-server limits, least-loaded choice, fail-over and recovery.

Real threads against the pool itself; the HTTP side of fail-over is covered with real
servers in test_openai_images.py and test_vllm_omni.py.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from generation.errors import InvalidRequest, TransientError
from generation.pool import ServerPool, get_pool, clear_pools


def refused(url: str):
    raise httpx.ConnectError("connection refused")


def test_each_server_runs_at_most_its_limit_and_both_are_used():
    pool = ServerPool(["http://a", "http://b"], per_server_concurrency=2)
    seen: list[str] = []
    lock = threading.Lock()
    live = {"http://a": 0, "http://b": 0}
    peak = {"http://a": 0, "http://b": 0}
    # the first four calls wait for each other: they can only all be in flight at once if
    # the pool runs two on each server (a barrier, not a stopwatch: no timing assumptions)
    together = threading.Barrier(4, timeout=10)

    def work(url: str) -> str:
        with lock:
            live[url] += 1
            peak[url] = max(peak[url], live[url])
            seen.append(url)
            n = len(seen)
        if n <= 4:
            together.wait()
        time.sleep(0.01)
        with lock:
            live[url] -= 1
        return url

    threads = [threading.Thread(target=pool.call, args=(work,),
                                kwargs={"backend": "t", "attempt": None}) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not together.broken
    assert peak == {"http://a": 2, "http://b": 2}
    assert len(seen) == 10 and {"http://a", "http://b"} <= set(seen)
    assert all(s.max_in_flight == 2 and s.in_flight == 0 for s in pool.snapshot())


def test_least_loaded_server_is_chosen():
    pool = ServerPool(["http://a", "http://b", "http://c"], per_server_concurrency=3)
    with pool.lease() as first, pool.lease() as second:
        with pool.lease() as third:
            assert {first, second, third} == {"http://a", "http://b", "http://c"}
        with pool.lease() as fourth:
            assert fourth not in (first, second)


def test_connection_failure_fails_over_and_marks_the_server_down():
    pool = ServerPool(["http://down", "http://up"], per_server_concurrency=1, cooldown_s=60)
    calls: list[str] = []

    def send(url: str) -> str:
        calls.append(url)
        if url == "http://down":
            refused(url)
        return "ok"

    assert pool.call(send, backend="t", attempt="a1") == "ok"
    assert pool.call(send, backend="t", attempt="a2") == "ok"
    assert calls == ["http://down", "http://up", "http://up"]
    status = {s.url: s for s in pool.snapshot()}
    assert not status["http://down"].healthy and status["http://down"].failures == 1
    assert status["http://up"].healthy and status["http://up"].served == 2


def test_all_servers_down_is_a_transient_error_naming_them():
    pool = ServerPool(["http://a:1", "http://b:2"], per_server_concurrency=1)
    with pytest.raises(TransientError) as info:
        pool.call(refused, backend="openai-images", attempt="x9")
    message = str(info.value)
    assert "[openai-images, attempt x9]" in message
    assert "could not connect to any server" in message and "http://b:2" in message
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_a_down_server_is_probed_again_after_its_cooldown():
    now = [0.0]
    pool = ServerPool(["http://a"], per_server_concurrency=1, cooldown_s=10,
                      clock=lambda: now[0])
    pool.mark_down("http://a")
    assert not pool.is_healthy("http://a")
    # even while cooling down, a pool with nothing else probes it (half-open)
    assert pool.call(lambda url: url, backend="t", attempt=None) == "http://a"
    assert pool.is_healthy("http://a")
    pool.mark_down("http://a")
    now[0] = 11.0
    assert pool.is_healthy("http://a")


def test_waiting_for_a_slot_times_out_as_transient():
    pool = ServerPool(["http://a"], per_server_concurrency=1)
    with pool.lease():
        started = time.monotonic()
        with pytest.raises(TransientError, match="every server busy"):
            with pool.lease(wait_s=0.2):
                pass  # pragma: no cover
        assert 0.15 < time.monotonic() - started < 2


def test_pools_are_shared_per_process_and_validated():
    clear_pools()
    a = get_pool(["http://x/", "http://y"], 2)
    assert get_pool(["http://x", "http://y"], 2) is a
    assert get_pool(["http://x", "http://y"], 3) is not a
    clear_pools()
    with pytest.raises(InvalidRequest):
        ServerPool([], per_server_concurrency=1)


def test_real_refused_port_counts_as_a_connection_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    pool = ServerPool([dead], per_server_concurrency=1)
    with httpx.Client() as client, pytest.raises(TransientError, match="could not connect"):
        pool.call(lambda url: client.get(url), backend="t", attempt=None)
    assert not pool.is_healthy(dead)
