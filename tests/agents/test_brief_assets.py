"""A brief's own pictures and its output file type, end to end: files only from the brief's
folder (or an allowed assets folder), bad files named as clear errors, product photos in
the planned picture area, a palette from the pictures, the prompt leaving room for them,
remote backends getting them composited after generation, and the final file encoded as
the brief asks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from agents.brief import load_brief
from agents.errors import BriefError
from agents.planner.rules import RulesPlanner
from agents.prompting import compile_prompt, layout_for
from agents.settings import Settings
from generation.images import logo_box

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    folder = tmp_path / "brief"
    shutil.copytree(EXAMPLES / "assets", folder / "assets")
    return folder


def _brief(folder: Path, **extra: object) -> Path:
    data = {"name": "kit", "copy": {"headline": "Morning Blend", "price": "€14.90"},
            "formats": ["social-square"], **extra}
    path = folder / "brief.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_the_example_brief_plans_its_pictures():
    brief = load_brief(EXAMPLES / "roastery-assets.yaml")
    assert brief.brand.logo is not None and brief.brand.logo.suffix == ".svg"
    for spec in RulesPlanner().plan(brief):
        products = [r for r in spec.regions if r.image is not None]
        assert len(products) == 1 and products[0].image.fit == "contain"
        assert spec.background_image is not None and spec.background_image.fit == "cover"
        layout = layout_for(spec)
        assert [p.file for p in layout.images] == [products[0].image.file]
        assert layout.image_boxes == []  # no placeholder where the photo goes
        prompt = compile_prompt(spec)
        assert "where the product photo is placed later" in prompt


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("images", {"products": ["../../etc/passwd.png"]}, "outside the allowed folders"),
    ("images", {"background": "/etc/hostname"}, "outside the allowed folders"),
    ("images", {"products": ["assets/missing.png"]}, "does not exist"),
    ("images", {"products": ["assets/logo.svg"]}, "is not a .png/.jpg/.jpeg/.webp file"),
    ("brand", {"logo": "assets/fake.png"}, "not a readable image"),
    ("images", {"products": ["a.png"] * 5}, "at most 4"),
])
def test_bad_picture_files_are_clear_errors(kit, field, value, problem):
    (kit / "assets" / "fake.png").write_text("not a png")
    with pytest.raises(BriefError, match=problem.replace(".", r"\.").replace("/", "/")):
        load_brief(_brief(kit, **{field: value}))


def test_an_allowed_assets_folder_is_used_and_colours_come_from_the_pictures(kit, tmp_path):
    shared = tmp_path / "brand-kit"
    shared.mkdir()
    Image.new("RGB", (60, 60), (20, 90, 160)).save(shared / "photo.png")
    settings = Settings(_env_file=None, assets_dirs=[shared])
    brief = load_brief(_brief(kit, images={"products": [str(shared / "photo.png")]}),
                       settings)
    spec = RulesPlanner().plan(brief)[0]
    assert "#145aa0" in spec.palette  # the photo's blue, no brand colours given


def test_output_type_per_format_and_for_the_brief(kit):
    brief = load_brief(_brief(kit, output={"file_type": "webp", "quality": 80}, formats=[
        "social-square", {"name": "print", "width": 1024, "height": 1536,
                          "output": {"file_type": "jpg", "quality": 92}}]))
    specs = {s.asset_id: s for s in RulesPlanner().plan(brief)}
    assert specs["social-square"].output.file_type == "webp"
    assert specs["print"].output.model_dump() == {"file_type": "jpeg", "quality": 92}
    with pytest.raises(BriefError, match="quality"):
        load_brief(_brief(kit, output={"file_type": "jpeg", "quality": 10}))


def test_a_typeset_run_delivers_the_requested_file_type(kit, tmp_path):
    from agents.api import start_run

    settings = Settings(_env_file=None, runs_dir=tmp_path / "runs")
    result = start_run(_brief(kit, output={"file_type": "jpeg", "quality": 85},
                              images={"products": ["assets/product.png"]}), settings, seed=1)
    asset = result.manifest["assets"][0]
    assert asset["status"] == "accepted", asset
    final = result.run_dir / asset["final_image"]
    assert final.suffix == ".jpg"
    with Image.open(final) as im:
        assert im.format == "JPEG" and im.size == (1024, 1024)


def _plain(prompt: str, width: int, height: int) -> bytes:
    import io
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (240, 240, 240)).save(buf, "PNG")
    return buf.getvalue()


def test_a_backend_without_reference_images_gets_the_product_composited(kit, tmp_path,
                                                                       monkeypatch):
    """Z.ai's image API takes no input image: the prompt keeps the picture area and the
    logo's corner free, signwriter sets them there afterwards and the record says so."""
    from agents.api import start_run
    from tests.servers.zai_server import ZaiServer

    brief = _brief(kit, copy={"headline": "Morning Blend",
                              "legal": {"text": "Offer ends Sunday.", "render": "overlay"}},
                   brand={"logo": "assets/logo.svg"},
                   images={"products": ["assets/product.png"]})
    with ZaiServer() as server:
        server.painter = _plain
        monkeypatch.setenv("SIGNWRITER_ZAI_API_KEY", "zai-test-key")
        monkeypatch.setenv("SIGNWRITER_ZAI_BASE_URL", server.base_url)
        monkeypatch.setenv("SIGNWRITER_ZAI_POLL_INTERVAL_S", "0")
        settings = Settings(_env_file=None, runs_dir=tmp_path / "runs", max_attempts=1,
                            backend="zai")
        result = start_run(brief, settings, seed=1)
        sent = server.calls("submit")[0].json
    assert set(sent) == {"model", "prompt", "size", "quality"}  # no image field exists
    assert "where the product photo is placed later" in sent["prompt"]
    assert "clear space is left at the top left for the brand logo" in sent["prompt"]
    attempt = result.manifest["assets"][0]["attempts"][0]
    record = json_attempt(result, attempt)["pictures"]
    assert record["reference_images"] == []
    assert [p["role"] for p in record["composited"]] == ["product", "logo"]
    assert record["note"].startswith("zai takes no reference images")
    assert attempt["image"] != attempt["generated_image"]  # a new image: the product set in
    # the overlaid legal line was checked for contrast against what the model drew
    legal = attempt["legibility"]["legal"]
    assert legal["contrast"] >= legal["required"] and legal["treatment"] == "none"
    spec = RulesPlanner().plan(load_brief(brief))[0]
    box = next(r.box for r in spec.regions if r.image is not None)
    with Image.open(result.run_dir / attempt["image"]) as im:
        x = int((box.x + box.w / 2) * im.width)
        y = int((box.y + box.h * 0.9) * im.height)
        rgb = im.convert("RGB")
        assert rgb.getpixel((x, y)) != (240, 240, 240)
        # the logo's brown disc, in the corner the prompt kept clear
        lx, ly, lw, lh = logo_box(layout_for(spec))
        corner = np.asarray(rgb.crop((int(lx * im.width), int(ly * im.height),
                                      int((lx + lw) * im.width), int((ly + lh) * im.height))))
        brown = (corner[..., 0] < 160) & (corner[..., 0] > corner[..., 2] + 40)
        assert brown.mean() > 0.05


def test_a_backend_that_takes_reference_images_receives_the_brief_pictures(kit, tmp_path,
                                                                         monkeypatch):
    """SGLang (openai-images) takes input images: the product photo and the logo go with
    the request as image parts of /v1/images/edits, the prompt names where each goes, and
    nothing is pasted over what the model drew."""
    from agents.api import start_run
    from tests.servers.openai_images_server import OpenAIImagesServer

    brief = _brief(kit, copy={"headline": "Morning Blend"},
                   brand={"logo": "assets/logo.svg"},
                   images={"products": ["assets/product.png"]})
    with OpenAIImagesServer() as server:
        server.painter = _plain
        monkeypatch.setenv("SIGNWRITER_OPENAI_IMAGES_URLS", f'["{server.url}"]')
        settings = Settings(_env_file=None, runs_dir=tmp_path / "runs", max_attempts=1,
                            backend="openai-images")
        result = start_run(brief, settings, seed=1)
    assert server.calls("generations") == []
    fields, _ = server.edit_uploads[0]
    product, logo = server.edit_images[0]
    with Image.open(kit / "assets" / "product.png") as src:
        assert product.size == src.size
    assert logo.size[0] == 1024  # the SVG, rasterised
    assert "the product from the first reference image is shown whole" in fields["prompt"]
    assert "brand logo from the second reference image is reproduced small" in fields["prompt"]
    assert "placed later" not in fields["prompt"]
    attempt = result.manifest["assets"][0]["attempts"][0]
    assert attempt["image"] == attempt["generated_image"]  # nothing composited
    record = json_attempt(result, attempt)["pictures"]
    assert [p["role"] for p in record["reference_images"]] == ["product", "logo"]
    assert record["composited"] == []


def json_attempt(result, attempt) -> dict:
    import json
    prompt = result.run_dir / attempt["prompt"]
    return json.loads((prompt.parent / "attempt.json").read_text(encoding="utf-8"))


def test_a_brand_font_file_named_in_the_brief_sets_the_text(kit):
    from generation.fonts import find_font, fit_text

    shutil.copy(find_font("latin", "bold"), kit / "assets" / "Brand-Bold.ttf")
    brief = load_brief(_brief(kit, brand={"fonts": {"headline": "assets/Brand-Bold.ttf"}}))
    spec = RulesPlanner().plan(brief)[0]
    head = next(r for r in spec.text_regions if r.role == "headline")
    assert head.typography.font == str((kit / "assets" / "Brand-Bold.ttf").resolve())
    fit = fit_text(head.text or "", 800, 200, family=head.typography.font, weight="bold")
    assert fit is not None and fit.font_path == head.typography.font
