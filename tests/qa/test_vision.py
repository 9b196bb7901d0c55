"""The blind vision reader against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import SecretStr

from qa.errors import QAError, VisionUnavailable
from qa.models import Strictness
from qa.vision import TRANSCRIBE_PROMPT, VisionReader, parse_transcription, vision_confirms
from tests.servers.openai_chat import OpenAIChatServer, Reply, slow

KEY = "sk-vision-secret-123"


def crop_with(text: str) -> np.ndarray:
    img = Image.new("RGB", (240, 60), (250, 250, 250))
    ImageDraw.Draw(img).text((10, 20), text, fill=(0, 0, 0))
    return np.asarray(img)


@pytest.fixture
def server():
    with OpenAIChatServer(api_key=KEY, model="vision-test") as s:
        yield s


def reader(server: OpenAIChatServer, **kw) -> VisionReader:
    return VisionReader(server.base_url, "vision-test", SecretStr(KEY), kw.pop("timeout_s", 5.0),
                        **kw)


def test_transcription_is_blind_and_carries_the_image(server):
    expected = "Summer Sale"
    server.script("Summer Sale")
    with reader(server) as r:
        got = r.transcribe(crop_with(expected))
    assert got == "Summer Sale"
    (req,) = server.chat_requests
    assert req.headers["authorization"] == f"Bearer {KEY}"
    body = req.body
    assert body["model"] == "vision-test"
    # the expected text appears nowhere in what the model was told
    texts = [body["messages"][0]["content"]] + [
        part["text"] for m in body["messages"][1:] for part in m["content"]
        if part["type"] == "text"]
    assert all("summer" not in t.lower() and "sale" not in t.lower() for t in texts)
    assert b"Summer" not in req.raw
    # the image arrives as a decodable PNG of the crop's size
    (image_part,) = [p for p in body["messages"][1]["content"] if p["type"] == "image_url"]
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert png.size == (240, 60)
    assert "Transcribe" in TRANSCRIBE_PROMPT and "<illegible>" in TRANSCRIBE_PROMPT


@pytest.mark.parametrize(("content", "parsed"), [
    ("```text\n$19.99\n```", "$19.99"),
    ('"Shop now"', "Shop now"),
    ("「夏季大促」", "夏季大促"),
    ("Summer\nSale\n", "Summer Sale"),
    ("<illegible>", None),
    ("  ", None),
    ("Sehool", "Sehool"),
])
def test_parse_transcription(content, parsed):
    assert parse_transcription(content) == parsed


def test_illegible_answer_over_http_is_none(server):
    server.script("<illegible>")
    with reader(server) as r:
        assert r.transcribe(crop_with("x")) is None


def test_refused_key_is_a_typed_error_without_the_key(server):
    with VisionReader(server.base_url, "vision-test", SecretStr("sk-wrong-777"), 5.0) as r:
        with pytest.raises(VisionUnavailable) as err:
            r.transcribe(crop_with("x"))
    assert err.value.status == 401
    assert isinstance(err.value, QAError)
    assert "sk-wrong-777" not in str(err.value) and "127.0.0.1" in str(err.value)


def test_server_error_is_retried_once_then_reported(server):
    server.script(Reply.error(503), "SALE")
    with reader(server) as r:
        assert r.transcribe(crop_with("SALE")) == "SALE"
    server.script(Reply.error(500), Reply.error(500))
    with reader(server) as r, pytest.raises(VisionUnavailable, match="HTTP 500"):
        r.transcribe(crop_with("SALE"))


def test_timeout_is_a_typed_error(server):
    server.script(slow("late", 2.0), slow("late", 2.0))
    with reader(server, timeout_s=0.3) as r, pytest.raises(VisionUnavailable, match="timed out"):
        r.transcribe(crop_with("x"))


def test_reply_without_content_is_a_typed_error(server):
    server.script(Reply(200, {"choices": []}))
    with reader(server) as r, pytest.raises(VisionUnavailable, match="without"):
        r.transcribe(crop_with("x"))


def test_vision_cannot_turn_a_misspelt_read_into_a_pass():
    strict = Strictness(case="exact")
    # the vision model says the expected text, but the local engine confidently read a
    # different one: the region keeps failing
    assert not vision_confirms("School", "School", [("Sehool", 0.93)], strictness=strict)
    # the vision model itself reads the misspelling: no pass either
    assert not vision_confirms("School", "Sehool", [("S?hool", 0.3)], strictness=strict)
    assert not vision_confirms("夏季大促", "复季大促", [], strictness=strict)
    assert not vision_confirms("$19.99", None, [], strictness=strict)
    # only an exact blind read over unreadable local reads confirms
    assert vision_confirms("School", "School", [("Sch", 0.31), ("", 0.0)], strictness=strict)
    # case matters under case: exact (the default, case: any, lets display capitals pass)
    assert not vision_confirms("School", "SCHOOL", [], strictness=strict)
    assert vision_confirms("School", "SCHOOL", [], strictness=Strictness())


def test_request_body_is_json_serialisable_and_names_no_expected_text(server):
    r = reader(server)
    body = r.request_body(crop_with("Only $49"))
    r.close()
    dumped = json.dumps(body)
    assert "Only $49" not in dumped and "$49" not in dumped


# --- wired into check_image: consulted only for illegible regions --------------------------

BOX = (0.03, 0.25, 0.9, 0.5)


def _blurred(path, text: str, *, blur: float = 4.5, noise: float = 25.0, seed: int = 0):
    """Real text made unreadable for OCR: heavy blur plus sensor noise."""
    from generation.fonts import find_font, load_font
    from PIL import ImageFilter

    img = Image.new("RGB", (640, 240), (205, 205, 205))
    ImageDraw.Draw(img).text((40, 90), text, font=load_font(find_font("latin", "regular"), 40),
                             fill=(60, 60, 60))
    img = img.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(img, np.float32) + np.random.default_rng(seed).normal(0, noise, (240, 640, 1))
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(path)
    return path


def _clear(path, text: str):
    from generation.fonts import find_font, load_font

    img = Image.new("RGB", (640, 240), (245, 245, 245))
    ImageDraw.Draw(img).text((40, 90), text, font=load_font(find_font("latin", "bold"), 48),
                             fill=(20, 20, 20))
    img.save(path)
    return path


def _expected():
    from qa.models import ExpectedText

    return [ExpectedText(id="t", text="Harbour Walk", box=BOX)]


@pytest.fixture(scope="module")
def illegible_image(tmp_path_factory):
    from qa import check_image

    path = _blurred(tmp_path_factory.mktemp("vision") / "blurred.png", "Harbour Walk")
    (f,) = check_image(path, _expected()).regions
    assert f.kind == "illegible"  # the precondition: the local engine cannot read it
    return path


def test_an_exact_blind_read_passes_an_illegible_region(server, illegible_image):
    from qa import check_image

    server.script("Harbour Walk")
    with reader(server) as r:
        report = check_image(illegible_image, _expected(), vision=r)
    assert report.passed
    (f,) = report.regions
    assert (f.kind, f.engine, f.read) == ("ok", "vision", "Harbour Walk")
    (req,) = server.chat_requests
    assert b"Harbour" not in req.raw  # blind: the request never named the expected text


def test_a_different_blind_read_leaves_an_illegible_region_failing(server, illegible_image):
    from qa import check_image

    server.script("Harbour Wa1k")
    with reader(server) as r:
        report = check_image(illegible_image, _expected(), vision=r)
    assert not report.passed
    (f,) = report.regions
    assert f.kind == "illegible" and "Harbour Wa1k" in f.note


def test_vision_is_never_asked_about_a_misspelt_read(server, tmp_path):
    from qa import check_image

    path = _clear(tmp_path / "typo.png", "Harbour Wakl")
    server.default = "Harbour Walk"  # would "confirm" if it were asked
    with reader(server) as r:
        report = check_image(path, _expected(), vision=r)
    assert not report.passed
    (f,) = report.regions
    assert f.kind == "misspelt" and f.read == "Harbour Wakl"
    assert server.chat_requests == []


def test_an_unavailable_vision_reader_leaves_the_verdict_and_says_why(illegible_image):
    from qa import check_image

    with OpenAIChatServer(api_key="sk-other") as other, reader(other) as r:
        report = check_image(illegible_image, _expected(), vision=r)
    (f,) = report.regions
    assert f.kind == "illegible" and not report.passed
    assert "vision reader unavailable" in f.note and KEY not in f.note
