"""The ``vllm-omni`` backend against real local vLLM-Omni-style servers with failures."""

from __future__ import annotations

import io
import socket
import threading

import pytest
from PIL import Image

from generation.base import EditRequest, GenerationRequest
from generation.errors import InvalidRequest, RateLimited, TransientError
from generation.pool import clear_pools
from generation.vllm_omni import VllmOmniBackend, find_image_url
from tests.servers.openai_images_server import InFlight
from tests.servers.vllm_omni_server import VllmOmniServer

KEY = "vo-secret-key-987654321"


@pytest.fixture(autouse=True)
def fresh_pools():
    clear_pools()
    yield
    clear_pools()


@pytest.fixture
def server():
    with VllmOmniServer() as s:
        yield s


def backend(urls, **options) -> VllmOmniBackend:
    defaults = {"max_retries": 2, "backoff_base_s": 0.01, "timeout_s": 5.0}
    defaults.update(options)
    return VllmOmniBackend(urls=urls, **defaults)


def req(**kw) -> GenerationRequest:
    base = {"prompt": 'A cafe chalkboard that says "FRESH COFFEE"', "width": 768,
            "height": 512, "seed": 42, "attempt_id": "v1"}
    base.update(kw)
    return GenerationRequest(**base)


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize("style", ["parts", "string"])
def test_generate_puts_diffusion_fields_in_the_body_and_reads_the_image(style):
    with VllmOmniServer(content_style=style) as server:
        result = backend([server.url], api_key=KEY, steps=50, guidance_scale=1.5).generate(
            req())
    (call,) = server.calls("chat")
    body = call.json
    assert body["messages"] == [{"role": "user",
                                 "content": 'A cafe chalkboard that says "FRESH COFFEE"'}]
    assert (body["width"], body["height"], body["seed"]) == (768, 512, 42)
    assert (body["num_inference_steps"], body["guidance_scale"]) == (50, 1.5)
    assert body["model"] == "zai-org/GLM-Image"
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert size_of(result.data) == (768, 512)
    assert result.backend == "vllm-omni" and result.metadata["server"] == server.url


def test_edit_sends_the_source_as_an_image_url_part(server, tmp_path):
    source = tmp_path / "draft.png"
    Image.new("RGB", (512, 512), (200, 30, 30)).save(source)
    result = backend([server.url]).edit(EditRequest(
        prompt='Correct the sign to "FRESH COFFEE"', image_path=str(source), width=512,
        height=512, seed=3))
    content = server.calls("chat")[0].json["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": 'Correct the sign to "FRESH COFFEE"'}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert server.received_images[0].getpixel((5, 5)) == (200, 30, 30)
    assert size_of(result.data) == (512, 512) and result.metadata["mode"] == "edit"


def test_failures_are_retried_until_an_image_comes_back(server):
    server.script("chat", "429", "500", "drop", "badjson", "badb64", "text", "nochoices")
    result = backend([server.url], max_retries=7).generate(req())
    assert size_of(result.data) == (768, 512)
    assert len(server.calls("chat")) == 8


@pytest.mark.parametrize(("fault", "error", "message"), [
    ("text", TransientError, "holds no image"),
    ("nochoices", TransientError, "no choices"),
    ("badb64", TransientError, "not valid base64"),
    ("503", TransientError, "HTTP 503"),
    ("429:0", RateLimited, "rate limited"),
    ("invalid", InvalidRequest, "height must be divisible by 32"),
])
def test_each_failure_maps_to_its_error(server, fault, error, message):
    server.script("chat", fault)
    with pytest.raises(error, match=message) as info:
        backend([server.url], max_retries=0, api_key=KEY).generate(req())
    assert "[vllm-omni, attempt v1]" in str(info.value)
    assert KEY not in str(info.value)


def test_timeout_is_transient(server):
    server.slow_s = 1.0
    server.script("chat", "timeout")
    with pytest.raises(TransientError, match="timed out"):
        backend([server.url], timeout_s=0.3, max_retries=0).generate(req())


def test_two_servers_one_down_fail_over_and_share_the_load():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with VllmOmniServer(work_s=0.1) as a, VllmOmniServer(work_s=0.1) as b:
        both = InFlight()  # requests in flight on the two servers together

        class Counted:
            def __init__(self, own: InFlight) -> None:
                self.own = own

            @property
            def max(self) -> int:
                return self.own.max

            def __enter__(self) -> "Counted":
                self.own.__enter__()
                both.__enter__()
                return self

            def __exit__(self, *exc: object) -> None:
                both.__exit__()
                self.own.__exit__()

        a.in_flight, b.in_flight = Counted(a.in_flight), Counted(b.in_flight)
        vo = backend([dead, a.url, b.url], per_server_concurrency=1, cooldown_s=60)
        results: list = []
        threads = [threading.Thread(target=lambda i=i: results.append(
            vo.generate(req(seed=i)))) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert len(results) == 6
    assert (a.max_in_flight, b.max_in_flight) == (1, 1)
    assert len(a.calls("chat")) + len(b.calls("chat")) == 6
    assert len(a.calls("chat")) >= 2 and len(b.calls("chat")) >= 2
    assert not vo.pool.is_healthy(dead)
    # the load was shared, not taken in turns: both servers worked at the same moment
    # (counted, not timed: a wall-clock bound failed on a loaded host)
    assert both.max == 2


def test_image_url_is_found_in_both_documented_shapes():
    url = "data:image/png;base64,AAAA"
    assert find_image_url([{"type": "image_url", "image_url": {"url": url}}]) == url
    assert find_image_url(url) == url
    assert find_image_url("no image here") is None
    assert find_image_url([{"type": "text", "text": "hi"}]) is None


def test_urls_are_required_and_named():
    with pytest.raises(InvalidRequest, match="SIGNWRITER_VLLM_OMNI_URLS"):
        VllmOmniBackend(urls=[])
