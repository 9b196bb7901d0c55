"""The shared HTTP plumbing: retries, error mapping, downloads, redaction."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from generation import http
from generation.limits import SizeLimits
from retrypolicy import RetryPolicy
from generation.errors import (
    AuthError,
    BackendError,
    ContentRejected,
    InvalidRequest,
    NeedsKey,
    QuotaExceeded,
    RateLimited,
    TransientError,
    Unsupported,
)
from tests.servers.provider_server import ProviderServer, Recorded, Reply, png_bytes

KEY = "sk-SECRET-abcdef123456"


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None,
            content: bytes | None = None) -> httpx.Response:
    """A response as a client would see it (through MockTransport, pure mapping)."""
    def handler(request: httpx.Request) -> httpx.Response:
        if content is not None:
            return httpx.Response(status, content=content, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    with http.make_client(transport=httpx.MockTransport(handler)) as client:
        return client.get("https://api.example.test/v1/x")


# --- Retry-After ------------------------------------------------------------------------

def test_retry_after_seconds_date_and_ms() -> None:
    assert http.parse_retry_after({"Retry-After": "7"}) == 7.0
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert http.parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30.0)
    assert http.parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert http.parse_retry_after({"Retry-After": "soon"}) is None
    assert http.parse_retry_after({}) is None
    assert http.parse_retry_after({"Retry-After": "86400"}) == http.MAX_RETRY_AFTER_S
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert http.parse_retry_after({"Retry-After": past}, now=now) == 0.0


# --- status mapping ---------------------------------------------------------------------

@pytest.mark.parametrize(("status", "error"), [
    (400, InvalidRequest), (422, InvalidRequest), (401, AuthError), (403, AuthError),
    (402, QuotaExceeded), (429, RateLimited), (500, TransientError), (502, TransientError),
    (503, TransientError), (504, TransientError), (408, TransientError),
])
def test_map_status(status: int, error: type[BackendError]) -> None:
    err = http.map_status(respond(status, {"error": "nope"}, {"Retry-After": "3"}),
                          "prov", "a-7", setting="SIGNWRITER_PROV_KEY")
    assert type(err) is error
    assert "[prov, attempt a-7]" in str(err)
    if error is AuthError:
        assert "SIGNWRITER_PROV_KEY" in str(err)
    if error is RateLimited:
        assert err.retry_after == 3.0


def test_map_status_success_is_none_and_body_is_redacted() -> None:
    assert http.map_status(respond(200, {}), "p", None) is None
    err = http.map_status(respond(401, {"error": f"bad key {KEY}"}), "p", None,
                          secrets=(SecretStr(KEY),))
    assert err is not None and KEY not in str(err)


def test_parse_json_malformed_is_transient() -> None:
    with pytest.raises(TransientError) as info:
        http.parse_json(respond(200, content=b'{"a": '), "p", "a-1")
    assert "malformed JSON" in str(info.value)
    assert http.parse_json(respond(200, {"a": 1}), "p", None) == {"a": 1}


# --- retries ----------------------------------------------------------------------------

NO_WAIT = RetryPolicy(max_retries=2, base_delay_s=0.0, sleep=lambda s: None)


def flaky(errors: list[Exception], result: str = "ok") -> tuple[Any, list[int]]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


def test_retries_transient_with_full_jitter_backoff() -> None:
    fn, calls = flaky([TransientError("a"), TransientError("b"), TransientError("c")])
    sleeps: list[float] = []
    policy = RetryPolicy(max_retries=3, base_delay_s=1.0, max_delay_s=3.0,
                         sleep=sleeps.append, rng=lambda: 0.5)
    assert http.call_with_retries(fn, backend="p", attempt=None, policy=policy) == "ok"
    assert len(calls) == 4
    assert sleeps == [0.5, 1.0, 1.5]  # half of min(3, 1, 2, 4)


def test_jitter_stays_within_the_cap() -> None:
    for retry in range(8):
        d = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0).delay(retry)
        assert 0.0 <= d <= min(4.0, 0.5 * 2 ** retry)


def test_retry_after_overrides_backoff() -> None:
    fn, calls = flaky([RateLimited("slow down", retry_after=2.5)])
    sleeps: list[float] = []
    http.call_with_retries(fn, backend="p", attempt=None, policy=RetryPolicy(
        max_retries=2, base_delay_s=0.01, sleep=sleeps.append))
    assert sleeps == [2.5] and len(calls) == 2


def test_gives_up_after_max_retries_with_the_last_error() -> None:
    fn, calls = flaky([TransientError(f"e{i}") for i in range(5)])
    with pytest.raises(TransientError, match="e2"):
        http.call_with_retries(fn, backend="p", attempt=None, policy=NO_WAIT)
    assert len(calls) == 3


@pytest.mark.parametrize("error", [
    InvalidRequest("x"), ContentRejected("x", level=0), QuotaExceeded("x"), AuthError("x"),
    NeedsKey("SIGNWRITER_X_KEY"), Unsupported("x"),
])
def test_never_retries_final_errors(error: BackendError) -> None:
    fn, calls = flaky([error])
    with pytest.raises(type(error)):
        http.call_with_retries(fn, backend="p", attempt=None,
                               policy=RetryPolicy(max_retries=5, base_delay_s=0.0))
    assert len(calls) == 1


def test_raw_httpx_errors_are_mapped_and_retried() -> None:
    fn, calls = flaky([httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("gone")])
    assert http.call_with_retries(fn, backend="p", attempt=None, policy=NO_WAIT) == "ok"
    assert len(calls) == 3


def test_connection_refused_is_transient_naming_backend_and_attempt() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with http.make_client(timeout_s=1.0) as client, pytest.raises(httpx.HTTPError) as info:
        client.get(f"http://127.0.0.1:{port}/x")
    err = http.map_httpx_error(info.value, "prov", "a-3")
    assert isinstance(err, TransientError) and "[prov, attempt a-3]" in str(err)
    assert "could not connect" in str(err)


# --- downloads against a real server ----------------------------------------------------

class FilesServer(ProviderServer):
    def route(self, route: str, rec: Recorded, fault: str | None) -> Reply:
        if rec.path.startswith("/text"):
            return Reply(200, b"<html>not an image</html>", content_type="text/html")
        return super().route(route, rec, fault)

    def classify(self, method: str, path: str) -> str:
        return "image"


@pytest.fixture
def files() -> Iterator[FilesServer]:
    with FilesServer() as s:
        yield s


def test_download_fetches_png(files: FilesServer) -> None:
    url = files.store_image("a.png", 64, 48)
    data, media = http.download(url, backend="p", attempt=None, policy=NO_WAIT)
    assert media == "image/png" and data == files.images["a.png"]


@pytest.mark.parametrize("fault", ["500", "drop", "timeout"])
def test_download_retries_transient_failures(files: FilesServer, fault: str) -> None:
    url = files.store_image("b.png", 32, 32)
    files.script("image", fault)
    with http.make_client(timeout_s=0.3) as client:
        data, _ = http.download(url, backend="p", attempt=None, client=client, policy=NO_WAIT)
    assert data == files.images["b.png"]
    assert len(files.requests) == 2


def test_download_expired_url_is_clear_and_hides_the_signature(files: FilesServer) -> None:
    url = files.store_image("c.png", 32, 32)
    files.script("image", "expired", "expired", "expired")
    with pytest.raises(TransientError) as info:
        http.download(url, backend="p", attempt="a-1", policy=NO_WAIT)
    msg = str(info.value)
    assert "gone or expired (HTTP 404)" in msg and "/files/c.png" in msg
    assert "Signature" not in msg and len(files.requests) == 3


def test_download_non_image_is_transient(files: FilesServer) -> None:
    with pytest.raises(TransientError, match="not an image"):
        http.download(files.url + "/text", backend="p", attempt=None,
                      policy=RetryPolicy(max_retries=0))


# --- secrets and sizes ------------------------------------------------------------------

def test_secret_and_redact() -> None:
    assert http.secret(SecretStr(KEY)) == KEY and http.secret(None) == ""
    text = (f"failed with {KEY}; Authorization: Bearer abcdefghijkl1; "
            f'{{"api_key": "zzz999yyy"}} Key 1234abcd:ef567890abcdef; token expired')
    out = http.redact(text, SecretStr(KEY))
    for leaked in (KEY, "abcdefghijkl", "zzz999yyy", "ef567890abcdef"):
        assert leaked not in out
    assert "failed with ***" in out and "token expired" in out


def test_safe_url_drops_query() -> None:
    assert http.safe_url("https://cdn.x/a/b.png?X-Amz-Signature=s3cr3t&t=1") == \
        "https://cdn.x/a/b.png"


@pytest.mark.parametrize(("w", "h", "ok"), [
    (1024, 1024, True), (2048, 2048, True), (1000, 1024, False), (992, 1024, False),
    (2080, 1024, False), (2048, 2080, False),
])
def test_size_limits_refuse_before_sending(w: int, h: int, ok: bool) -> None:
    limits = SizeLimits(min_side=1024, max_side=2048, multiple=32, max_pixels=2**22)
    if ok:
        limits.require(w, h, backend="p", attempt=None)
        assert limits.problem(w, h) is None and limits.snap(w, h) == (w, h)
    else:
        with pytest.raises(InvalidRequest, match="nearest valid sizes are"):
            limits.require(w, h, backend="p", attempt=None)
        assert limits.problem(*limits.snap(w, h)) is None


def test_client_uses_named_limits_and_timeout() -> None:
    with http.make_client(timeout_s=5.0) as client:
        assert client.timeout.read == 5.0 and client.timeout.connect == 5.0
    with http.make_client() as client:
        assert client.timeout == http.TIMEOUT


def test_decode_image_b64_plain_and_data_url() -> None:
    png = png_bytes(16, 16)
    b64 = base64.b64encode(png).decode()
    assert http.decode_image_b64(b64, backend="p", attempt=None) == (png, "image/png")
    assert http.decode_image_b64("data:image/png;base64," + b64, backend="p",
                                 attempt=None)[0] == png
    with pytest.raises(TransientError, match="not valid base64"):
        http.decode_image_b64("!!", backend="p", attempt=None)
    with pytest.raises(TransientError, match="not a PNG"):
        http.decode_image_b64(base64.b64encode(b"hello").decode(), backend="p", attempt=None)
