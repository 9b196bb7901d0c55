"""GLM-OCR as the blind vision reader, against a real local server speaking its protocols
(vLLM/SGLang's OpenAI chat, Ollama's /api/generate, Z.ai's layout_parsing) and failures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import SecretStr

from qa.errors import VisionUnavailable
from qa.vision import GLM_OCR_PROMPT, VisionReader, strip_markdown
from tests.servers.glm_ocr_server import MIN_PIXELS, GlmOcrServer

KEY = "zai-glm-ocr-5ecret-key"


def crop_with(text: str, size: tuple[int, int] = (240, 60)) -> np.ndarray:
    img = Image.new("RGB", size, (250, 250, 250))
    ImageDraw.Draw(img).text((6, size[1] // 3), text, fill=(0, 0, 0))
    return np.asarray(img)


@pytest.fixture
def server():
    with GlmOcrServer(api_key=KEY) as s:
        yield s


def glm(server: GlmOcrServer, protocol: str = "glm-ocr", **kw) -> VisionReader:
    base = {"glm-ocr": server.chat_url, "ollama": server.ollama_url,
            "zai-layout": server.zai_url}[protocol]
    model = kw.pop("model", "glm-ocr")
    return VisionReader(base, model, kw.pop("api_key", SecretStr(KEY)), kw.pop("timeout_s", 5.0),
                        protocol=protocol, **kw)


# --- vLLM / SGLang (OpenAI chat completions) ------------------------------------------------

def test_glm_ocr_chat_request_is_glm_ocrs_own_and_blind(server):
    server.reads = "Summer Sale"
    with glm(server) as r:
        assert r.transcribe(crop_with("Summer Sale")) == "Summer Sale"
    (req,) = server.calls("chat")
    body = req.json
    assert body["model"] == "glm-ocr" and body["temperature"] == 0
    (msg,) = body["messages"]  # no system prompt: GLM-OCR is prompted by its task prompt
    assert [p["type"] for p in msg["content"]] == ["image_url", "text"]
    assert msg["content"][1]["text"] == GLM_OCR_PROMPT == "Text Recognition:"
    assert b"Summer" not in req.body and b"Sale" not in req.body
    assert req.headers["authorization"] == f"Bearer {KEY}"


def test_a_crop_below_glm_ocrs_minimum_is_enlarged_not_refused(server):
    server.reads = "$9"
    with glm(server) as r:
        assert r.transcribe(crop_with("$9", size=(40, 18))) == "$9"
    (image,) = server.images_seen
    assert image.width * image.height >= MIN_PIXELS
    assert abs(image.width / image.height - 40 / 18) < 0.1  # the aspect ratio is kept


def test_multi_line_and_empty_answers(server):
    server.reads = "夏季大促\n全场5折\n"
    with glm(server) as r:
        assert r.transcribe(crop_with("x")) == "夏季大促 全场5折"
        server.script("chat", "empty")
        assert r.transcribe(crop_with("x")) is None  # nothing legible


def test_unknown_served_model_is_a_clear_error(server):
    with glm(server, model="glm-4.5v") as r, pytest.raises(VisionUnavailable) as err:
        r.transcribe(crop_with("x"))
    assert err.value.status == 404 and "glm-4.5v" in str(err.value)


def test_vllm_refusing_the_key_names_the_setting_not_the_key(server):
    with glm(server, api_key=SecretStr("sk-wrong-42")) as r, \
            pytest.raises(VisionUnavailable) as err:
        r.transcribe(crop_with("x"))
    assert err.value.status == 401 and "SIGNWRITER_VISION_API_KEY" in str(err.value)
    assert "sk-wrong-42" not in str(err.value) and KEY not in str(err.value)


def test_a_5xx_is_retried_once_then_reported(server):
    server.reads = "OPEN"
    server.script("chat", "503")
    with glm(server) as r:
        assert r.transcribe(crop_with("OPEN")) == "OPEN"
    server.script("chat", "500", "502")
    with glm(server) as r, pytest.raises(VisionUnavailable, match="HTTP 502"):
        r.transcribe(crop_with("OPEN"))


def test_timeouts_and_dropped_connections_are_typed(server):
    server.slow_s = 1.0
    server.script("chat", "timeout", "timeout")
    with glm(server, timeout_s=0.3) as r, pytest.raises(VisionUnavailable, match="timed out"):
        r.transcribe(crop_with("x"))
    server.script("chat", "drop", "drop")
    with glm(server) as r, pytest.raises(VisionUnavailable, match="could not be reached"):
        r.transcribe(crop_with("x"))


def test_a_reply_that_is_not_json_is_typed(server):
    server.script("chat", "badjson")
    with glm(server) as r, pytest.raises(VisionUnavailable, match="not JSON"):
        r.transcribe(crop_with("x"))


# --- Ollama's native API ------------------------------------------------------------------

def test_ollama_generate_request_and_answer(server):
    server.reads = "Grand Opening"
    with glm(server, "ollama", api_key=None) as r:
        assert r.transcribe(crop_with("Grand Opening")) == "Grand Opening"
    (req,) = server.calls("generate")
    body = req.json
    assert body["prompt"] == "Text Recognition:" and body["stream"] is False
    assert body["options"]["temperature"] == 0 and len(body["images"]) == 1
    assert "authorization" not in req.headers and b"Grand" not in req.body


def test_ollama_errors_are_typed(server):
    with glm(server, "ollama", model="glm-ocr:latest") as r, \
            pytest.raises(VisionUnavailable, match="not found, try pulling it"):
        r.transcribe(crop_with("x"))
    server.script("generate", "ollama-error")  # 200 with an error field
    with glm(server, "ollama") as r, pytest.raises(VisionUnavailable, match="error"):
        r.transcribe(crop_with("x"))


# --- Z.ai's layout-parsing API ------------------------------------------------------------

def test_zai_layout_parsing_reads_text_regions_in_order(server):
    server.reads = "Harbour Walk\nSat 9 May"
    with glm(server, "zai-layout") as r:
        assert r.transcribe(crop_with("Harbour Walk")) == "Harbour Walk Sat 9 May"
    (req,) = server.calls("layout")
    body = req.json
    assert body["model"] == "glm-ocr" and body["file"].startswith("data:image/png;base64,")
    assert set(body) == {"model", "file"} and b"Harbour" not in req.body


def test_zai_key_refused_and_account_in_arrears_are_typed(server):
    with glm(server, "zai-layout", api_key=SecretStr("bad-key-0")) as r, \
            pytest.raises(VisionUnavailable) as err:
        r.transcribe(crop_with("x"))
    assert err.value.status == 401 and "bad-key-0" not in str(err.value)
    server.script("layout", "429-balance", "429-balance")
    with glm(server, "zai-layout") as r, pytest.raises(VisionUnavailable) as err:
        r.transcribe(crop_with("x"))
    assert err.value.status == 429 and "1113" in str(err.value)


def test_zai_concurrency_limit_is_retried(server):
    server.reads = "SALE"
    server.script("layout", "429-concurrency")
    with glm(server, "zai-layout") as r:
        assert r.transcribe(crop_with("SALE")) == "SALE"
    assert len(server.calls("layout")) == 2


def test_zai_nothing_legible_is_none(server):
    server.script("layout", "empty")
    with glm(server, "zai-layout") as r:
        assert r.transcribe(crop_with("x")) is None


@pytest.mark.parametrize(("md", "plain"), [
    ("## Harbour Walk\n\nSat 9 May", "Harbour Walk\nSat 9 May"),
    ("![](page=0,bbox=[1,2,3,4])\n**OPEN** now", "OPEN now"),
    ("- $19.99\n> 限时", "$19.99\n限时"),
    ("[Shop](http://x.y) <br/>today", "Shop  today"),
])
def test_strip_markdown(md, plain):
    assert strip_markdown(md) == plain


def test_unknown_protocol_is_refused_up_front():
    with pytest.raises(ValueError, match="glm-ocr"):
        VisionReader("http://127.0.0.1:1", "m", protocol="grpc")  # type: ignore[arg-type]


# --- wired in: settings choose it; check_image uses it only for illegible regions ----------

def test_settings_select_glm_ocr(monkeypatch, server):
    from agents.api import vision_reader
    from agents.settings import Settings

    monkeypatch.setenv("SIGNWRITER_VISION_BASE_URL", server.chat_url)
    monkeypatch.setenv("SIGNWRITER_VISION_MODEL", "glm-ocr")
    monkeypatch.setenv("SIGNWRITER_VISION_PROTOCOL", "glm-ocr")
    monkeypatch.setenv("SIGNWRITER_VISION_API_KEY", KEY)
    r = vision_reader(Settings(_env_file=None))
    assert r is not None and r.protocol == "glm-ocr" and r.url == server.chat_url + \
        "/chat/completions"
    server.reads = "ok"
    try:
        assert r.transcribe(crop_with("ok")) == "ok"
    finally:
        r.close()
    monkeypatch.setenv("SIGNWRITER_VISION_PROTOCOL", "grpc")
    with pytest.raises(Exception, match="vision_protocol"):
        Settings(_env_file=None)


BOX = (0.03, 0.25, 0.9, 0.5)


@pytest.fixture(scope="module")
def illegible_image(tmp_path_factory):
    from qa import check_image
    from tests.qa.test_vision import _blurred, _expected

    path = _blurred(tmp_path_factory.mktemp("glmocr") / "blurred.png", "Harbour Walk")
    (f,) = check_image(path, _expected()).regions
    assert f.kind == "illegible"  # the precondition: the local engine cannot read it
    return path


@pytest.mark.parametrize("protocol", ["glm-ocr", "ollama", "zai-layout"])
def test_glm_ocr_passes_an_illegible_region_only_on_an_exact_read(server, illegible_image,
                                                                  protocol):
    from qa import check_image
    from tests.qa.test_vision import _expected

    server.reads = "Harbour Walk"
    with glm(server, protocol) as r:
        report = check_image(illegible_image, _expected(), vision=r)
    (f,) = report.regions
    assert report.passed and (f.kind, f.engine) == ("ok", "vision")
    sent = [c for c in server.requests if c.route in ("chat", "generate", "layout")]
    assert sent and all(b"Harbour" not in c.body for c in sent)

    server.reads = "Harbour WaIk"  # a different read changes nothing
    with glm(server, protocol) as r:
        report = check_image(illegible_image, _expected(), vision=r)
    (f,) = report.regions
    assert not report.passed and f.kind == "illegible" and "Harbour WaIk" in f.note


def test_an_unreachable_glm_ocr_leaves_the_verdict_and_says_why(server, illegible_image):
    from qa import check_image
    from tests.qa.test_vision import _expected

    server.script("layout", "503", "503")
    with glm(server, "zai-layout") as r:
        report = check_image(illegible_image, _expected(), vision=r)
    (f,) = report.regions
    assert not report.passed and f.kind == "illegible"
    assert "vision reader unavailable" in f.note and KEY not in json.dumps(report.model_dump())
