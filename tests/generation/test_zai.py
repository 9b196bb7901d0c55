"""The zai backend against a real local server speaking Z.ai's image API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from generation.base import Backend, EditRequest, GenerationRequest
from generation.errors import (
    AuthError, ContentRejected, InvalidRequest, NeedsKey, QuotaExceeded, TransientError,
    Unsupported,
)
from generation.zai import ZaiBackend
from tests.servers.provider_server import FAST_RETRIES, assert_png
from tests.servers.zai_server import ZaiServer

KEY = "zai-SECRET-key-0123456789"


@pytest.fixture
def server() -> Iterator[ZaiServer]:
    with ZaiServer() as s:
        yield s


def make(server: ZaiServer, **opts: Any) -> ZaiBackend:
    return ZaiBackend(**{**FAST_RETRIES, "api_key": KEY, "base_url": server.base_url, **opts})


def req(**kw: Any) -> GenerationRequest:
    base: dict[str, Any] = dict(prompt='A poster that reads "SUMMER SALE"', width=1280,
                                height=1024, seed=7, attempt_id="a-1")
    base.update(kw)
    return GenerationRequest(**base)



def test_is_a_backend_with_zai_limits() -> None:
    b = ZaiBackend(api_key=KEY)
    assert isinstance(b, Backend)
    assert b.capabilities.paid and not b.capabilities.edit
    # Z.ai's GLM-Image guide: 512–2048 px per side, multiples of 32
    assert (b.capabilities.limits.min_side, b.capabilities.limits.max_side) == (512, 2048)
    narrower = ZaiBackend(api_key=KEY, limits={"min_side": 1024})  # another platform's endpoint
    assert narrower.capabilities.limits.min_side == 1024
    with pytest.raises(ValueError):
        ZaiBackend(api_key=KEY, no_such_option=1)


def test_async_generate_sends_size_and_downloads_the_png(server: ZaiServer) -> None:
    seen: list[dict[str, Any]] = []

    def on_submit(handle: dict[str, Any]) -> None:
        # recorded before the result is polled or the image fetched
        seen.append({**handle, "results_before": len(server.calls("result")),
                     "images_before": len(server.calls("image"))})

    img = make(server).generate(req(), on_submit=on_submit)
    assert_png(img.data, (1280, 1024))
    assert img.media_type == "image/png" and img.backend == "zai" and img.model == "glm-image"
    assert img.cost_usd == pytest.approx(0.015)
    assert img.metadata["content_filter"] == [{"role": "assistant", "level": 2}]
    assert img.metadata["task_id"] == seen[0]["task_id"]
    assert seen[0]["results_before"] == 0 and seen[0]["images_before"] == 0
    (submit,) = server.calls("submit")
    assert submit.json["size"] == "1280x1024"
    assert submit.json["model"] == "glm-image" and submit.json["quality"] == "hd"
    assert submit.headers["authorization"] == f"Bearer {KEY}"
    # the result URL is fetched without the key
    assert "authorization" not in server.calls("image")[0].headers
    assert KEY not in repr(img.metadata)


def test_slow_queue_polls_until_success(server: ZaiServer) -> None:
    server.queue_polls = 4
    img = make(server).generate(req())
    assert len(server.calls("submit")) == 1
    assert len(server.calls("result")) == 5
    assert_png(img.data, (1280, 1024))


def test_resume_polls_the_recorded_task_without_paying_again(server: ZaiServer) -> None:
    server.queue_polls = 2
    handles: list[dict[str, Any]] = []

    class Crash(Exception):
        pass

    def crash(handle: dict[str, Any]) -> None:
        handles.append(handle)
        raise Crash

    with pytest.raises(Crash):
        make(server).generate(req(), on_submit=crash)
    img = make(server).generate(req(resume=handles[0]))
    assert len(server.calls("submit")) == 1
    assert img.metadata["task_id"] == handles[0]["task_id"]
    assert_png(img.data, (1280, 1024))


def test_sync_mode_retries_5xx_then_succeeds(server: ZaiServer) -> None:
    server.script("sync", "500", "503")
    img = make(server, mode="sync").generate(req(width=1024, height=1024))
    assert len(server.calls("sync")) == 3
    assert_png(img.data, (1024, 1024))
    assert img.metadata["content_filter"][0]["level"] == 3


@pytest.mark.parametrize(("fault", "maybe_paid"), [
    ("timeout", True), ("drop", True), ("badjson", True),  # sent, no usable answer
    ("429", False), ("429-concurrency", False)])           # refused: nothing was done
def test_transient_faults_are_retried(server: ZaiServer, fault: str, maybe_paid: bool) -> None:
    server.script("submit", fault)
    img = make(server, timeout_s=0.3).generate(req())
    assert len(server.calls("submit")) == 2
    assert_png(img.data, (1280, 1024))
    # Z.ai has no idempotency key: a re-sent submit whose first send may have been carried
    # out may have been paid for twice, and says so (the pipeline budgets for it)
    assert img.cost_usd == 0.015
    assert img.possibly_charged_usd == (0.015 if maybe_paid else 0.0)


def test_retries_running_out_on_unanswered_submits_count_every_send(server: ZaiServer) -> None:
    server.script("submit", "timeout", "timeout", "timeout")
    with pytest.raises(TransientError) as info:
        make(server, timeout_s=0.3, max_retries=2).generate(req())
    assert len(server.calls("submit")) == 3
    assert info.value.possibly_charged_usd == pytest.approx(0.045)


@pytest.mark.parametrize(("route", "charged"), [
    ("result", 0.015),  # the task was accepted, then polling failed: it runs and is billed
    ("submit", 0.0),    # the submit was refused every time: nothing was done
])
def test_a_failed_generation_counts_what_it_may_have_cost(server: ZaiServer, route: str,
                                                          charged: float) -> None:
    server.script(route, "503", "503", "503")
    with pytest.raises(TransientError) as info:
        make(server, max_retries=2).generate(req())
    assert len(server.calls(route)) == 3
    assert info.value.possibly_charged_usd == pytest.approx(charged)


def test_retry_after_is_honoured(server: ZaiServer) -> None:
    server.script("result", "429:1")
    t0 = time.monotonic()
    make(server).generate(req())
    assert time.monotonic() - t0 >= 1.0
    assert len(server.calls("result")) == 2


def test_retries_run_out_with_a_transient_error(server: ZaiServer) -> None:
    server.script("submit", "503", "503", "503", "503", "503")
    with pytest.raises(TransientError) as info:
        make(server, max_retries=2).generate(req())
    assert len(server.calls("submit")) == 3
    assert "zai, attempt a-1" in str(info.value) and "503" in str(info.value)


def test_balance_exhausted_429_stops_at_once(server: ZaiServer) -> None:
    server.script("submit", "429-balance")
    with pytest.raises(QuotaExceeded) as info:
        make(server).generate(req())
    assert len(server.calls("submit")) == 1
    assert "1113" in str(info.value) and KEY not in str(info.value)


def test_content_filter_is_rejected_with_its_level(server: ZaiServer) -> None:
    server.script("submit", "filter")
    with pytest.raises(ContentRejected) as info:
        make(server).generate(req())
    assert info.value.level == 1
    assert len(server.calls("submit")) == 1


def test_success_without_image_but_filter_is_content_rejected(server: ZaiServer) -> None:
    server.script("sync", "no-image")
    with pytest.raises(ContentRejected) as info:
        make(server, mode="sync").generate(req())
    assert info.value.level == 0


def test_failed_task_is_transient(server: ZaiServer) -> None:
    server.script("result", "fail")
    with pytest.raises(TransientError) as info:
        make(server).generate(req())
    assert "failed" in str(info.value) and not isinstance(info.value, ContentRejected)
    assert len(server.calls("submit")) == 1
    assert len(server.calls("result")) == 1  # a failed task is not polled again


def test_failed_task_blocked_by_filter_is_content_rejected(server: ZaiServer) -> None:
    server.script("result", "fail-filter")
    with pytest.raises(ContentRejected) as info:
        make(server).generate(req())
    assert info.value.level == 0


def test_expired_result_url_is_reported_clearly(server: ZaiServer) -> None:
    server.script("image", "expired", "expired", "expired", "expired")
    with pytest.raises(TransientError) as info:
        make(server).generate(req())
    assert "expired" in str(info.value) and "404" in str(info.value)
    assert "Signature" not in str(info.value)
    assert len(server.calls("image")) == 4  # 1 + max_retries
    assert len(server.calls("submit")) == 1


def test_expired_once_then_available_succeeds(server: ZaiServer) -> None:
    server.script("image", "expired")
    img = make(server).generate(req())
    assert_png(img.data, (1280, 1024))


def test_refused_key_names_the_setting_and_hides_the_key(server: ZaiServer) -> None:
    server.script("submit", "auth")
    with pytest.raises(AuthError) as info:
        make(server).generate(req())
    msg = str(info.value)
    assert "SIGNWRITER_ZAI_API_KEY" in msg and KEY not in msg
    assert len(server.calls("submit")) == 1


def test_key_echoed_by_the_provider_never_reaches_errors_or_logs(
        server: ZaiServer, caplog: pytest.LogCaptureFixture) -> None:
    server.script("submit", "429-concurrency", "auth-echo")
    with caplog.at_level("DEBUG"), pytest.raises(AuthError) as info:
        make(server).generate(req())
    assert KEY not in str(info.value) and KEY not in repr(info.value.args)
    assert KEY not in caplog.text
    assert "retry 1/3" in caplog.text  # the log line exists, without the key


def test_missing_key_names_the_env_var_and_sends_nothing(server: ZaiServer) -> None:
    with pytest.raises(NeedsKey) as info:
        make(server, api_key=None).generate(req())
    assert "SIGNWRITER_ZAI_API_KEY" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("size", [(1000, 1024), (480, 1024), (2048, 2080), (1056, 1030)])
def test_bad_sizes_are_refused_before_paying(server: ZaiServer, size: tuple[int, int]) -> None:
    with pytest.raises(InvalidRequest):
        make(server).generate(req(width=size[0], height=size[1]))
    assert server.requests == []


def test_a_wide_banner_runs_at_its_own_size(server: ZaiServer) -> None:
    image = make(server).generate(req(width=1920, height=768))
    assert (image.width, image.height) == (1920, 768)
    assert server.calls("submit")[0].json["size"] == "1920x768"


def test_provider_invalid_parameter_is_not_retried(server: ZaiServer) -> None:
    server.script("submit", "invalid")
    with pytest.raises(InvalidRequest):
        make(server).generate(req())
    assert len(server.calls("submit")) == 1


def test_options_reach_the_request(server: ZaiServer) -> None:
    make(server, watermark_enabled=False, user_id="user-123456").generate(req())
    body = server.calls("submit")[0].json
    assert body["watermark_enabled"] is False and body["user_id"] == "user-123456"


def test_edit_is_unsupported(tmp_path: Any) -> None:
    with pytest.raises(Unsupported):
        ZaiBackend(api_key=KEY).edit(EditRequest(prompt="x", image_path=str(tmp_path / "a.png"),
                                                 width=1024, height=1024))


def test_one_http_client_per_backend_on_an_injected_transport() -> None:
    """Every call of one backend goes through its own client, on the transport given."""
    import httpx

    from tests.servers.provider_server import png_bytes
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/images/generations"):
            return httpx.Response(200, json={"data": [{"url": "https://cdn.test/a.png"}]})
        return httpx.Response(200, content=png_bytes(1280, 1024))

    backend = ZaiBackend(api_key=KEY, mode="sync", transport=httpx.MockTransport(handler))
    client = backend._client
    for _ in range(2):
        assert_png(backend.generate(req()).data, (1280, 1024))
    assert backend._client is client
    assert seen == ["POST /api/paas/v4/images/generations", "GET /a.png"] * 2
    backend.close()
    assert client.is_closed
