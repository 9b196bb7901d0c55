"""The fal backend against a real local server speaking fal's queue protocol."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generation.base import Backend, EditRequest, GenerationRequest
from generation.errors import (
    AuthError, BackendError, ContentRejected, InvalidRequest, NeedsKey, QuotaExceeded,
    TransientError,
)
from generation.fal import FalBackend
from tests.servers.fal_server import FalServer
from tests.servers.provider_server import FAST_RETRIES, assert_png, png_bytes

KEY = "fal-key-id:SECRET-fal-secret-987654"


@pytest.fixture
def server() -> Iterator[FalServer]:
    with FalServer() as s:
        yield s


def make(server: FalServer, **opts: Any) -> FalBackend:
    return FalBackend(**{**FAST_RETRIES, "api_key": KEY, "base_url": server.url, **opts})


def req(**kw: Any) -> GenerationRequest:
    base: dict[str, Any] = dict(prompt='A shop sign that reads "OPEN"', width=1024, height=768,
                                seed=42, attempt_id="f-9")
    base.update(kw)
    return GenerationRequest(**base)



def test_is_a_backend_that_can_edit() -> None:
    b = FalBackend(api_key=KEY)
    assert isinstance(b, Backend) and b.capabilities.edit and b.capabilities.paid
    assert 0.1 < b.capabilities.cost_per_image_usd < 0.2
    with pytest.raises(ValueError):
        FalBackend(api_key=KEY, guidance=3)


def test_generate_submits_polls_fetches_and_downloads(server: FalServer) -> None:
    server.queue_polls = 3  # IN_QUEUE, IN_QUEUE, IN_PROGRESS, then COMPLETED
    handles: list[dict[str, Any]] = []

    def on_submit(handle: dict[str, Any]) -> None:
        handles.append({**handle, "status_before": len(server.calls("status")),
                        "result_before": len(server.calls("result"))})

    img = make(server).generate(req(), on_submit=on_submit)
    assert_png(img.data, (1024, 768))
    assert img.seed == 42 and img.backend == "fal" and img.model == "fal-ai/glm-image"
    assert img.cost_usd == pytest.approx(0.15 * 1024 * 768 / 1e6, abs=1e-5)
    assert handles[0]["status_before"] == 0 and handles[0]["result_before"] == 0
    assert handles[0]["request_id"] == img.metadata["request_id"]
    assert len(server.calls("status")) == 4 and len(server.calls("result")) == 1
    (submit,) = server.calls("submit")
    assert submit.path == "/fal-ai/glm-image"
    assert submit.headers["authorization"] == f"Key {KEY}"
    body = submit.json
    assert body["image_size"] == {"width": 1024, "height": 768}
    assert body["seed"] == 42 and body["guidance_scale"] == 1.5
    assert body["num_images"] == 1 and body["enable_safety_checker"] is True
    assert body["output_format"] == "png"
    assert "authorization" not in server.calls("image")[0].headers
    assert KEY not in repr(img.metadata)


def test_resume_polls_without_resubmitting(server: FalServer) -> None:
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
    assert img.metadata["request_id"] == handles[0]["request_id"]
    assert_png(img.data, (1024, 768))


def test_edit_sends_the_input_as_a_data_uri(server: FalServer, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(1024, 768, "SALE"))
    img = make(server).edit(EditRequest(prompt='Replace the word with "SALE"',
                                        image_path=str(src), width=1024, height=768, seed=3))
    (submit,) = server.calls("submit")
    assert submit.path == "/fal-ai/glm-image/image-to-image"
    (uri,) = submit.json["image_urls"]
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == src.read_bytes()
    assert img.model == "fal-ai/glm-image/image-to-image"
    assert_png(img.data, (1024, 768))


def test_edit_missing_input_is_invalid(server: FalServer, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        make(server).edit(EditRequest(prompt="x", image_path=str(tmp_path / "none.png"),
                                      width=1024, height=768))
    assert server.requests == []


@pytest.mark.parametrize(("route", "fault"), [
    ("submit", "429"), ("submit", "503"), ("submit", "drop"), ("submit", "timeout"),
    ("status", "500"), ("status", "badjson"), ("result", "502"), ("result", "retry-422"),
])
def test_transient_faults_are_retried(server: FalServer, route: str, fault: str) -> None:
    server.script(route, fault)
    img = make(server, timeout_s=0.3).generate(req())
    assert len(server.calls(route)) == 2
    assert len(server.calls("submit")) == (2 if route == "submit" else 1)
    assert_png(img.data, (1024, 768))
    # a submit sent, left unanswered and sent again may have been paid for twice
    lost = route == "submit" and fault in ("drop", "timeout")
    assert img.possibly_charged_usd == pytest.approx(img.cost_usd if lost else 0.0)


def test_not_retryable_header_stops_retries(server: FalServer) -> None:
    server.script("result", "no-retry-500")
    with pytest.raises(BackendError) as info:
        make(server).generate(req())
    assert not isinstance(info.value, TransientError)
    assert len(server.calls("result")) == 1
    assert "internal_error" in str(info.value)


@pytest.mark.parametrize("route", ["submit", "result"])
def test_content_policy_is_rejected_at_once(server: FalServer, route: str) -> None:
    server.script(route, "content")
    with pytest.raises(ContentRejected) as info:
        make(server).generate(req())
    assert len(server.calls(route)) == 1
    assert "fal, attempt f-9" in str(info.value)


def test_nsfw_flagged_result_is_rejected(server: FalServer) -> None:
    server.script("result", "nsfw")
    with pytest.raises(ContentRejected):
        make(server).generate(req())
    assert server.calls("image") == []


def test_expired_image_url_is_retried_then_reported(server: FalServer) -> None:
    server.script("image", *["expired"] * 4)
    with pytest.raises(TransientError) as info:
        make(server).generate(req())
    assert "expired" in str(info.value)
    assert len(server.calls("image")) == 4 and len(server.calls("submit")) == 1


def test_refused_key(server: FalServer) -> None:
    server.script("submit", "auth")
    with pytest.raises(AuthError) as info:
        make(server).generate(req())
    assert "SIGNWRITER_FAL_API_KEY" in str(info.value) and KEY not in str(info.value)
    assert "SECRET" not in str(info.value)


def test_exhausted_balance_is_quota(server: FalServer) -> None:
    server.script("submit", "balance")
    with pytest.raises(QuotaExceeded):
        make(server).generate(req())
    assert len(server.calls("submit")) == 1


def test_invalid_input_is_not_retried(server: FalServer) -> None:
    server.script("submit", "invalid")
    with pytest.raises(InvalidRequest) as info:
        make(server).generate(req())
    assert "image_too_large" in str(info.value)
    assert len(server.calls("submit")) == 1


def test_missing_key(server: FalServer) -> None:
    with pytest.raises(NeedsKey) as info:
        make(server, api_key=None).generate(req())
    assert "SIGNWRITER_FAL_API_KEY" in str(info.value) and server.requests == []


def test_bad_size_refused_before_submit(server: FalServer) -> None:
    with pytest.raises(InvalidRequest):
        make(server).generate(req(width=1000))
    assert server.requests == []


def test_preset_size_and_steps_are_sent(server: FalServer) -> None:
    img = make(server, image_size="landscape_4_3", num_inference_steps=30,
               guidance_scale=2.0).generate(req())
    body = server.calls("submit")[0].json
    assert body["image_size"] == "landscape_4_3" and body["num_inference_steps"] == 30
    assert body["guidance_scale"] == 2.0
    assert img.width == 1024 and img.height == 768
