"""The runware backend against a real local server speaking Runware's task protocol."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generation.base import Backend, EditRequest, GenerationRequest
from generation.errors import (
    AuthError, ContentRejected, InvalidRequest, NeedsKey, QuotaExceeded, TransientError,
)
from generation.runware import RunwareBackend
from tests.servers.provider_server import FAST_RETRIES, assert_png, png_bytes
from tests.servers.runware_server import RunwareServer

KEY = "rw-SECRET-runware-key-5555"


@pytest.fixture
def server() -> Iterator[RunwareServer]:
    with RunwareServer() as s:
        yield s


def make(server: RunwareServer, **opts: Any) -> RunwareBackend:
    return RunwareBackend(**{**FAST_RETRIES, "api_key": KEY, "base_url": server.base_url, **opts})


def req(**kw: Any) -> GenerationRequest:
    base: dict[str, Any] = dict(prompt='A banner that reads "GRAND OPENING"', width=1024,
                                height=576, seed=11, attempt_id="r-2")
    base.update(kw)
    return GenerationRequest(**base)



def test_is_a_backend() -> None:
    b = RunwareBackend(api_key=KEY)
    assert isinstance(b, Backend) and b.capabilities.edit and b.capabilities.paid
    assert b.options.model == "runware:glm-image@0"
    with pytest.raises(ValueError):
        RunwareBackend(api_key=KEY, cfg=1)


def test_async_generate_acknowledges_then_polls(server: RunwareServer) -> None:
    server.queue_polls = 2
    handles: list[dict[str, Any]] = []

    def on_submit(handle: dict[str, Any]) -> None:
        handles.append({**handle, "polls_before": len(server.calls("poll"))})

    img = make(server, steps=30, cfg_scale=1.5).generate(req(), on_submit=on_submit)
    assert_png(img.data, (1024, 576))
    assert img.seed == 11 and img.cost_usd == pytest.approx(0.0225)
    assert img.metadata["cost_reported"] is True
    assert handles[0]["polls_before"] == 0
    (inference,) = server.calls("inference")
    (task,) = inference.json
    assert uuid.UUID(task["taskUUID"]).version == 4
    assert handles[0]["taskUUID"] == task["taskUUID"] == img.metadata["taskUUID"]
    assert task["model"] == "runware:glm-image@0"
    assert (task["width"], task["height"]) == (1024, 576)
    assert task["seed"] == 11 and task["steps"] == 30 and task["CFGScale"] == 1.5
    assert task["outputType"] == "base64Data" and task["outputFormat"] == "PNG"
    assert task["includeCost"] is True and task["numberResults"] == 1
    assert task["deliveryMethod"] == "async"
    assert inference.headers["authorization"] == f"Bearer {KEY}"
    assert len(server.calls("poll")) == 3
    assert server.calls("poll")[0].json == [{"taskType": "getResponse",
                                             "taskUUID": task["taskUUID"]}]


def test_sync_delivery_returns_in_one_call(server: RunwareServer) -> None:
    img = make(server, delivery="sync").generate(req())
    assert "deliveryMethod" not in server.calls("inference")[0].json[0]
    assert server.calls("poll") == []
    assert_png(img.data, (1024, 576))


def test_resume_polls_without_resubmitting(server: RunwareServer) -> None:
    server.queue_polls = 1
    handles: list[dict[str, Any]] = []

    class Crash(Exception):
        pass

    def crash(handle: dict[str, Any]) -> None:
        handles.append(handle)
        raise Crash

    with pytest.raises(Crash):
        make(server).generate(req(), on_submit=crash)
    img = make(server).generate(req(resume=handles[0]))
    assert len(server.calls("inference")) == 1
    assert img.metadata["taskUUID"] == handles[0]["taskUUID"]
    assert_png(img.data, (1024, 576))


def test_edit_sends_a_reference_image(server: RunwareServer, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(1024, 576, "OPENING"))
    img = make(server).edit(EditRequest(prompt='Fix the word "OPENING"', image_path=str(src),
                                        width=1024, height=576, seed=5))
    task = server.calls("inference")[0].json[0]
    (ref,) = task["inputs"]["referenceImages"]
    assert base64.b64decode(ref.split(",", 1)[1]) == src.read_bytes()
    assert_png(img.data, (1024, 576))


@pytest.mark.parametrize(("route", "fault"), [
    ("inference", "rate"), ("inference", "500"), ("inference", "drop"),
    ("inference", "timeout"), ("inference", "badjson"), ("poll", "503"), ("poll", "429"),
])
def test_transient_faults_are_retried(server: RunwareServer, route: str, fault: str) -> None:
    server.script(route, fault)
    img = make(server, timeout_s=0.3).generate(req())
    assert len(server.calls(route)) == 2
    assert_png(img.data, (1024, 576))
    # a task sent, left without a usable answer and sent again may have been paid twice
    lost = route == "inference" and fault in ("drop", "timeout", "badjson")
    assert img.possibly_charged_usd == pytest.approx(
        make(server).options.cost_per_image_usd if lost else 0.0)


@pytest.mark.parametrize(("fault", "error"), [
    ("auth", AuthError), ("credits", QuotaExceeded), ("moderation", ContentRejected),
    ("invalid", InvalidRequest),
])
def test_errors_array_maps_to_the_taxonomy(server: RunwareServer, fault: str,
                                           error: type[Exception]) -> None:
    server.script("inference", fault)
    with pytest.raises(error) as info:
        make(server).generate(req())
    assert len(server.calls("inference")) == 1
    assert "runware, attempt r-2" in str(info.value) and KEY not in str(info.value)


def test_auth_error_names_the_setting(server: RunwareServer) -> None:
    server.script("inference", "auth")
    with pytest.raises(AuthError) as info:
        make(server).generate(req())
    assert "SIGNWRITER_RUNWARE_API_KEY" in str(info.value)


def test_task_error_during_polling(server: RunwareServer) -> None:
    server.script("poll", *["task-error"] * 2)
    with pytest.raises(TransientError) as info:
        make(server, max_retries=1).generate(req())
    assert "timeoutProvider" in str(info.value)
    assert len(server.calls("inference")) == 1 and len(server.calls("poll")) == 2


@pytest.mark.parametrize(("fault", "error"), [("nsfw", ContentRejected),
                                              ("badb64", TransientError)])
def test_bad_results(server: RunwareServer, fault: str, error: type[Exception]) -> None:
    server.script("poll", fault)
    with pytest.raises(error):
        make(server).generate(req())


def test_missing_key(server: RunwareServer) -> None:
    with pytest.raises(NeedsKey) as info:
        make(server, api_key=None).generate(req())
    assert "SIGNWRITER_RUNWARE_API_KEY" in str(info.value) and server.requests == []


def test_bad_size_refused_before_paying(server: RunwareServer) -> None:
    with pytest.raises(InvalidRequest):
        make(server).generate(req(width=1000))
    assert server.requests == []
