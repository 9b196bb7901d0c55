"""The ``openai-images`` backend (SGLang) against real local servers with real failures."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest
from PIL import Image

from generation.base import EditRequest, GenerationRequest
from generation.errors import AuthError, InvalidRequest, RateLimited, TransientError
from generation.openai_images import OpenAIImagesBackend
from generation.pool import clear_pools
from tests.servers.openai_images_server import OpenAIImagesServer

KEY = "sk-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_pools():
    clear_pools()
    yield
    clear_pools()


@pytest.fixture
def server():
    with OpenAIImagesServer() as s:
        yield s


def dead_url() -> str:
    """A URL on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def backend(urls, **options) -> OpenAIImagesBackend:
    defaults = {"max_retries": 2, "backoff_base_s": 0.01, "timeout_s": 5.0}
    defaults.update(options)
    return OpenAIImagesBackend(urls=urls, **defaults)


def req(**kw) -> GenerationRequest:
    base = {"prompt": 'A poster reading "GRAND OPENING"', "width": 512, "height": 768,
            "seed": 11, "attempt_id": "a1"}
    base.update(kw)
    return GenerationRequest(**base)


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_generate_sends_the_openai_images_request_and_returns_the_png(server):
    result = backend([server.url], api_key=KEY, steps=30, guidance_scale=1.5).generate(
        req(negative_prompt="blurry"))

    (call,) = server.calls("generations")
    assert call.json == {"model": "zai-org/GLM-Image", "prompt": 'A poster reading "GRAND '
                         'OPENING"', "size": "512x768", "n": 1, "response_format": "b64_json",
                         "seed": 11, "num_inference_steps": 30, "guidance_scale": 1.5,
                         "negative_prompt": "blurry"}
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert size_of(result.data) == (512, 768) and result.media_type == "image/png"
    assert (result.backend, result.seed, result.cost_usd) == ("openai-images", 11, 0.0)
    assert result.metadata["server"] == server.url
    assert KEY not in repr(result.metadata)


def test_edit_uploads_the_source_image_as_multipart(server, tmp_path):
    source = tmp_path / "draft.png"
    Image.new("RGB", (512, 512), (10, 200, 10)).save(source)

    result = backend([server.url]).edit(EditRequest(
        prompt='Fix the word to "OPEN"', image_path=str(source), width=512, height=512,
        seed=5, region=(0.1, 0.1, 0.3, 0.2)))

    fields, files = server.edit_uploads[0]
    assert files["image"] == source.read_bytes()
    assert fields["prompt"] == 'Fix the word to "OPEN"' and fields["size"] == "512x512"
    assert fields["response_format"] == "b64_json" and fields["seed"] == "5"
    assert size_of(result.data) == (512, 512)
    assert result.metadata["mode"] == "edit" and result.metadata["region_ignored"] is True


def test_429_waits_for_retry_after_then_succeeds(server):
    server.script("generations", "429:0.3")
    started = time.monotonic()
    result = backend([server.url]).generate(req())
    assert time.monotonic() - started >= 0.3
    assert len(server.calls("generations")) == 2 and result.data


def test_429_that_persists_is_rate_limited(server):
    server.script("generations", "429", "429")
    with pytest.raises(RateLimited) as info:
        backend([server.url], max_retries=1).generate(req())
    assert info.value.retry_after == 0


def test_5xx_are_retried_and_then_reported(server):
    server.script("generations", "500", "503")
    assert backend([server.url]).generate(req()).data
    assert len(server.calls("generations")) == 3

    server.script("generations", "503", "503")
    with pytest.raises(TransientError, match="HTTP 503"):
        backend([server.url], max_retries=1).generate(req())


def test_timeout_is_transient_and_does_not_mark_the_server_down(server):
    server.slow_s = 1.0
    server.script("generations", "timeout")
    b = backend([server.url], timeout_s=0.3, max_retries=0)
    started = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        b.generate(req(attempt_id="t1"))
    assert time.monotonic() - started < 1.0
    assert b.pool.is_healthy(server.url)


def test_dropped_connection_and_malformed_answers_are_retried(server):
    server.script("generations", "drop", "badjson", "badb64", "notimage")
    result = backend([server.url], max_retries=4).generate(req())
    assert size_of(result.data) == (512, 768)
    assert len(server.calls("generations")) == 5


@pytest.mark.parametrize(("fault", "message"), [
    ("badjson", "malformed JSON"),
    ("badb64", "not valid base64"),
    ("notimage", "not a PNG/JPEG/WebP"),
    ("drop", "connection dropped"),
])
def test_malformed_answers_say_what_was_wrong(server, fault, message):
    server.script("generations", fault)
    with pytest.raises(TransientError, match=message):
        backend([server.url], max_retries=0).generate(req())


def test_invalid_request_is_not_retried(server):
    server.script("generations", "invalid")
    with pytest.raises(InvalidRequest, match="size must be a multiple of 32"):
        backend([server.url]).generate(req())
    assert len(server.calls("generations")) == 1


def test_refused_key_names_the_setting_and_never_leaks(server):
    server.script("generations", "auth")
    with pytest.raises(AuthError, match="SIGNWRITER_OPENAI_IMAGES_API_KEY"):
        backend([server.url], api_key=KEY).generate(req())

    server.script("generations", "echo-auth")
    with pytest.raises(TransientError) as info:
        backend([server.url], api_key=KEY, max_retries=0).generate(req())
    assert KEY not in str(info.value) and "HTTP 500" in str(info.value)


def test_a_url_answer_is_downloaded(server):
    server.script("generations", "url")
    result = backend([server.url]).generate(req())
    assert size_of(result.data) == (512, 768)
    assert len(server.calls("image")) == 1


def test_fails_over_from_a_down_server():
    dead = dead_url()
    with OpenAIImagesServer() as live:
        b = backend([dead, live.url], per_server_concurrency=1, cooldown_s=60)
        first = b.generate(req())
        second = b.generate(req(seed=12))
    assert first.metadata["server"] == second.metadata["server"] == live.url
    assert len(live.calls("generations")) == 2
    assert not b.pool.is_healthy(dead)


def test_concurrency_per_server_is_respected_across_backend_instances():
    with OpenAIImagesServer(work_s=0.15) as a, OpenAIImagesServer(work_s=0.15) as b:
        backends = [backend([a.url, b.url], per_server_concurrency=2) for _ in range(2)]
        errors: list[Exception] = []

        def run(i: int) -> None:
            try:
                backends[i % 2].generate(req(seed=i))
            except TransientError as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        elapsed = time.monotonic() - started

    assert errors == []
    assert (a.max_in_flight, b.max_in_flight) == (2, 2)
    assert len(a.calls("generations")) + len(b.calls("generations")) == 8
    assert elapsed < 8 * 0.15  # 4 at a time, not one by one


def test_urls_are_required_and_named():
    with pytest.raises(InvalidRequest, match="SIGNWRITER_OPENAI_IMAGES_URLS"):
        OpenAIImagesBackend(urls=[])
    with pytest.raises(ValueError, match="extra"):
        OpenAIImagesBackend(urls=["http://x"], bogus=1)
    assert OpenAIImagesBackend(urls="http://a:1, http://b:2").pool.urls == [
        "http://a:1", "http://b:2"]


def test_bad_size_is_rejected_before_any_request(server):
    with pytest.raises(InvalidRequest, match="not a multiple of 32"):
        backend([server.url]).generate(req(width=520))
    assert server.requests == []
