"""The one retry policy: which answers are retried, how long it waits, when it gives up —
the same for image backends, the planner's LLM client and the vision reader."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from agents.errors import PlannerError
from agents.llm_client import ChatClient
from qa.errors import VisionUnavailable
from qa.vision import VisionReader
from retrypolicy import RETRY_STATUSES, Retryable, RetryPolicy


def scripted(*answers: int | Exception, headers: dict[str, str] | None = None):
    """A transport answering each request with the next status (or raising)."""
    queue = list(answers)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        body = {"choices": [{"message": {"content": "SALE"}}]} if answer == 200 else {}
        return httpx.Response(answer, json=body, headers=headers or {})

    return httpx.MockTransport(handler), seen


def test_statuses_worth_a_retry() -> None:
    policy = RetryPolicy()
    assert all(policy.retryable_status(s) for s in RETRY_STATUSES | {500, 599})
    assert not any(policy.retryable_status(s) for s in (400, 401, 403, 404, 409, 422))


def test_send_retries_then_returns_the_answer_and_honours_retry_after() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_retries=3, base_delay_s=1.0, sleep=sleeps.append, rng=lambda: 0.5)
    transport, seen = scripted(503, httpx.ConnectError("refused"), 200)
    with httpx.Client(transport=transport) as client:
        assert policy.send(lambda: client.get("http://x.test/")).status_code == 200
    assert len(seen) == 3 and sleeps == [0.5, 1.0]
    sleeps.clear()
    transport, _ = scripted(429, 200, headers={"Retry-After": "7"})
    with httpx.Client(transport=transport) as client:
        policy.send(lambda: client.get("http://x.test/"))
    assert sleeps == [7.0]


def test_send_gives_up_with_the_last_problem_and_returns_final_refusals() -> None:
    policy = RetryPolicy(max_retries=1, sleep=lambda s: None)
    transport, seen = scripted(502, 504)
    with httpx.Client(transport=transport) as client, pytest.raises(Retryable) as info:
        policy.send(lambda: client.get("http://x.test/"))
    assert info.value.status == 504 and "HTTP 504" in info.value.problem and len(seen) == 2
    transport, seen = scripted(422)
    with httpx.Client(transport=transport) as client:
        assert policy.send(lambda: client.get("http://x.test/")).status_code == 422
    assert len(seen) == 1


def test_the_llm_client_and_the_vision_reader_retry_the_same_way() -> None:
    for status, retried in ((503, True), (409, False)):
        transport, seen = scripted(status, 200)
        with ChatClient("http://llm.test/v1", "m", transport=transport, backoff_s=0.0) as c:
            if retried:
                assert c.chat([{"role": "user", "content": "hi"}]) == "SALE"
            else:
                with pytest.raises(PlannerError, match="HTTP 409"):
                    c.chat([{"role": "user", "content": "hi"}])
        assert len(seen) == (2 if retried else 1), status
    import numpy as np
    crop = np.full((32, 64, 3), 255, np.uint8)
    transport, seen = scripted(503, 200)
    reader = VisionReader("http://vision.test/v1", "glm-ocr", api_key=SecretStr("k"),
                          transport=transport,
                          retry=RetryPolicy(max_retries=1, sleep=lambda s: None))
    assert reader.transcribe(crop) == "SALE" and len(seen) == 2
    transport, seen = scripted(503, 503)
    reader = VisionReader("http://vision.test/v1", "glm-ocr", transport=transport,
                          retry=RetryPolicy(max_retries=1, sleep=lambda s: None))
    with pytest.raises(VisionUnavailable, match="HTTP 503"):
        reader.transcribe(crop)
