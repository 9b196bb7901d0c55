"""The brief's pictures as reference images: each backend that declares the capability
sends them in its provider's own format, checked by real local servers that decode what
arrives; a backend that does not declare it gets none (they are composited instead)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from generation.base import GenerationRequest, Layout, PlacedImage, ReferenceImage
from generation.compose import pictures_record, references_for
from generation.errors import ImageAssetError
from generation.fal import FalBackend
from generation.images import REFERENCE_MAX_SIDE
from generation.openai_images import OpenAIImagesBackend
from generation.pool import clear_pools
from generation.registry import available_backends, create_backend
from generation.runware import RunwareBackend
from generation.vllm_omni import VllmOmniBackend
from tests.servers.fal_server import FalServer
from tests.servers.openai_images_server import OpenAIImagesServer
from tests.servers.provider_server import FAST_RETRIES, assert_png
from tests.servers.runware_server import RunwareServer
from tests.servers.vllm_omni_server import VllmOmniServer

PRODUCT = (200, 30, 30)
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
       '<rect x="8" y="8" width="48" height="48" fill="#2050c0"/></svg>')


@pytest.fixture(autouse=True)
def fresh_pools():
    clear_pools()
    yield
    clear_pools()


@pytest.fixture
def pictures(tmp_path: Path) -> list[ReferenceImage]:
    """A product photo (opaque red on transparent), an SVG logo (blue square) and a large
    background photo (green, 3000 px wide: scaled down before it is sent)."""
    product = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    product.paste(Image.new("RGBA", (80, 60), PRODUCT + (255,)), (20, 10))
    product.save(tmp_path / "product.png")
    (tmp_path / "logo.svg").write_text(SVG, encoding="utf-8")
    Image.new("RGB", (3000, 1500), (20, 160, 60)).save(tmp_path / "bg.jpg")
    return [ReferenceImage(file=str(tmp_path / "product.png"), role="product",
                           box=(0.5, 0.2, 0.4, 0.6)),
            ReferenceImage(file=str(tmp_path / "logo.svg"), role="logo",
                           box=(0.04, 0.03, 0.2, 0.08)),
            ReferenceImage(file=str(tmp_path / "bg.jpg"), role="background")]


def check_received(images: list[Image.Image]) -> None:
    """The three pictures, in order, as images a model can use."""
    assert len(images) == 3
    product, logo, background = (im.convert("RGBA") for im in images)
    assert product.size == (120, 80)
    assert product.getpixel((60, 40))[:3] == PRODUCT
    assert product.getpixel((2, 2))[3] == 0  # transparency kept
    assert logo.getpixel((logo.width // 2, logo.height // 2))[:3] == (0x20, 0x50, 0xC0)
    assert max(background.size) == REFERENCE_MAX_SIDE
    assert background.getpixel((10, 10))[:3] == pytest.approx((20, 160, 60), abs=3)


def req(refs: list[ReferenceImage], **kw: Any) -> GenerationRequest:
    base: dict[str, Any] = dict(prompt='A poster that reads "FRESH"', width=1024, height=768,
                                seed=5, attempt_id="ref-1", references=refs)
    base.update(kw)
    return GenerationRequest(**base)


def test_fal_sends_them_as_image_urls_to_the_image_to_image_endpoint(pictures) -> None:
    with FalServer() as server:
        backend = FalBackend(**{**FAST_RETRIES, "api_key": "k:s", "base_url": server.url})
        img = backend.generate(req(pictures))
        plain = backend.generate(req([]))
    assert_png(img.data, (1024, 768))
    submits = server.calls("submit")
    assert submits[0].path.endswith("/fal-ai/glm-image/image-to-image")
    assert submits[1].path.endswith("/fal-ai/glm-image") and "image_urls" not in \
        submits[1].json
    assert all(u.startswith("data:image/png;base64,") for u in submits[0].json["image_urls"])
    check_received(server.received_images[0])
    assert img.model == "fal-ai/glm-image/image-to-image"


def test_runware_sends_them_in_inputs_reference_images(pictures) -> None:
    with RunwareServer() as server:
        backend = RunwareBackend(**{**FAST_RETRIES, "api_key": "rw-k",
                                    "base_url": server.base_url})
        img = backend.generate(req(pictures))
        backend.generate(req([]))
    assert_png(img.data, (1024, 768))
    tasks = [c.json[0] for c in server.calls("inference")]
    assert tasks[0]["taskType"] == "imageInference" and "inputs" not in tasks[1]
    check_received(server.received_images[0])


def test_openai_images_sends_them_as_image_parts_of_an_edit(pictures) -> None:
    with OpenAIImagesServer() as server:
        backend = OpenAIImagesBackend(urls=[server.url], max_retries=1, timeout_s=5.0)
        img = backend.generate(req(pictures))
        backend.generate(req([]))
    assert Image.open(__import__("io").BytesIO(img.data)).size == (1024, 768)
    assert len(server.calls("edits")) == 1 and len(server.calls("generations")) == 1
    check_received(server.edit_images[0])
    fields = server.edit_uploads[0][0]
    assert fields["prompt"] == 'A poster that reads "FRESH"' and fields["size"] == "1024x768"
    assert img.metadata["reference_images"] == 3


def test_vllm_omni_sends_them_as_image_url_parts_after_the_text(pictures) -> None:
    with VllmOmniServer() as server:
        backend = VllmOmniBackend(urls=[server.url], max_retries=1, timeout_s=5.0)
        backend.generate(req(pictures))
        backend.generate(req([]))
    chats = [c.json for c in server.calls("chat")]
    content = chats[0]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": 'A poster that reads "FRESH"'}
    assert [p["type"] for p in content[1:]] == ["image_url"] * 3
    assert isinstance(chats[1]["messages"][0]["content"], str)
    check_received(server.request_images[0])


def test_an_unusable_picture_is_a_clear_error_before_anything_is_sent(tmp_path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with FalServer() as server:
        backend = FalBackend(**{**FAST_RETRIES, "api_key": "k:s", "base_url": server.url})
        with pytest.raises(ImageAssetError, match=r"\[fal, attempt ref-1\].*broken.png"):
            backend.generate(req([ReferenceImage(file=str(bad), role="product")]))
    assert server.calls("submit") == []


def test_each_backend_declares_what_it_takes_in_its_spec() -> None:
    taken = {s.name: s.capabilities.reference_images for s in available_backends()
             if s.source == "built-in"}
    assert taken == {"typeset": 0, "zai": 0, "fal": 4, "runware": 4, "openai-images": 4,
                     "vllm-omni": 4, "diffusers": 4}
    # the instances agree with their specs
    assert create_backend("fal", api_key="k").capabilities.reference_images == 4
    assert create_backend("zai", api_key="k").capabilities.reference_images == 0


def test_what_is_sent_and_what_is_composited_is_recorded(pictures) -> None:
    layout = Layout(images=[PlacedImage(file=pictures[0].file, box=(0.5, 0.2, 0.4, 0.6))],
                    logo_path=pictures[1].file,
                    background_image=PlacedImage(file=pictures[2].file, fit="cover"))
    zai = create_backend("zai", api_key="k").capabilities
    fal = create_backend("fal", api_key="k").capabilities
    assert references_for(layout, zai) == []
    sent = references_for(layout, fal)
    assert [r.role for r in sent] == ["product", "logo", "background"]
    assert pictures_record(layout, fal, "fal", sent) == {
        "reference_images": [{"role": "product", "file": "product.png"},
                             {"role": "logo", "file": "logo.svg"},
                             {"role": "background", "file": "bg.jpg"}],
        "composited": [], "not_used": [],
        "note": "fal received the brief's pictures as reference images"}
    record = pictures_record(layout, zai, "zai", [])
    assert record["reference_images"] == [] and record["not_used"] == [
        {"role": "background", "file": "bg.jpg"}]
    assert [p["role"] for p in record["composited"]] == ["product", "logo"]
    assert record["note"].startswith("zai takes no reference images")
    two = fal.model_copy(update={"reference_images": 2})
    assert [r.role for r in references_for(layout, two)] == ["product", "logo"]


def test_the_servers_refuse_pictures_in_the_wrong_field_or_format() -> None:
    """The checks above can fail: each server refuses what its provider would."""
    import httpx

    with FalServer() as fal:
        auth = {"Authorization": "Key k:s"}
        t2i = httpx.post(fal.url + "/fal-ai/glm-image", headers=auth, json={
            "prompt": "x", "image_size": {"width": 512, "height": 512},
            "image_urls": ["data:image/png;base64,AAAA"]})
        i2i = httpx.post(fal.url + "/fal-ai/glm-image/image-to-image", headers=auth, json={
            "prompt": "x", "image_size": {"width": 512, "height": 512},
            "image_urls": "data:image/png;base64,AAAA"})
        not_image = httpx.post(fal.url + "/fal-ai/glm-image/image-to-image", headers=auth,
                               json={"prompt": "x", "image_urls": ["data:image/png;base64,"
                                                                   "bm90IGFuIGltYWdl"]})
    assert (t2i.status_code, i2i.status_code, not_image.status_code) == (422, 422, 422)
    with RunwareServer() as rw:
        task = {"taskType": "imageInference", "taskUUID": "u-1", "positivePrompt": "x",
                "width": 512, "height": 512, "inputs": {"referenceImages": ["nope"]}}
        bad = httpx.post(rw.base_url, headers={"Authorization": "Bearer k"}, json=[task])
    assert bad.status_code == 400 and bad.json()["errors"][0]["parameter"] == \
        "inputs.referenceImages"
    with OpenAIImagesServer() as oai:
        bad = httpx.post(oai.url + "/v1/images/edits", data={"prompt": "x", "size": "512x512"},
                         files=[("image", ("a.png", b"not a png", "image/png"))])
    assert bad.status_code == 400
    with VllmOmniServer() as vo:
        bad = httpx.post(vo.url + "/v1/chat/completions", json={"messages": [
            {"role": "user", "content": [{"type": "text", "text": "x"}, {
                "type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]})
    assert bad.status_code == 400
