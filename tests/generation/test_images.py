"""The brief's own pictures: loaded safely (PNG, JPEG, WebP, SVG), placed without
distortion (contain keeps the whole image and its transparency, cover crops around a focal
point), composited onto another backend's picture, and a palette taken from them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.base import GenerationRequest, Layout, PlacedImage, TextBlock
from generation.errors import ImageAssetError
from generation.images import composite, fitted, image_palette, load_image, place
from generation.output import encode
from generation.typeset import TypesetBackend

ASSETS = Path(__file__).resolve().parents[2] / "examples" / "briefs" / "assets"


def _two_tone(path: Path, size=(400, 200)) -> Path:
    """Left half red, right half blue: where a crop lands is visible."""
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:, : size[0] // 2] = (220, 30, 30)
    arr[:, size[0] // 2:] = (30, 30, 220)
    Image.fromarray(arr).save(path)
    return path


def test_contain_keeps_the_whole_image_and_its_aspect(tmp_path):
    img = load_image(_two_tone(tmp_path / "a.png"))
    out, ox, oy = fitted(img, 300, 300, "contain")
    assert out.size == (300, 150) and (ox, oy) == (0, 75)  # 2:1 kept, letterboxed


def test_cover_fills_and_crops_around_the_focus(tmp_path):
    img = load_image(_two_tone(tmp_path / "a.png"))
    left, _, _ = fitted(img, 200, 200, "cover", focus=(0.0, 0.5))
    right, _, _ = fitted(img, 200, 200, "cover", focus=(1.0, 0.5))
    assert left.size == right.size == (200, 200)
    assert left.getpixel((100, 100))[0] > 200 and right.getpixel((100, 100))[2] > 200
    # never stretched: a square crop of a 2:1 image is scaled evenly (both halves' colours
    # stay pure, the crop shows exactly one half)
    assert np.asarray(left)[..., 2].max() < 60


def test_transparency_of_a_cut_out_product_is_kept():
    canvas = Image.new("RGB", (400, 400), (10, 200, 10))
    place(canvas, PlacedImage(file=str(ASSETS / "product.png"), fit="contain"),
          (0, 0, 400, 400))
    assert canvas.getpixel((5, 5)) == (10, 200, 10)       # the corner: transparent, ground shows
    assert canvas.getpixel((200, 340))[1] < 150           # the bag itself, below its label


def test_an_svg_logo_is_rasterised_with_transparency():
    logo = load_image(ASSETS / "logo.svg")
    assert logo.mode == "RGBA" and logo.width == 1024
    alpha = np.asarray(logo.getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("evil.svg", '<svg xmlns="http://www.w3.org/2000/svg"><image href="/etc/passwd"/></svg>',
     "refers to other files"),
    ("remote.svg", '<svg xmlns="http://www.w3.org/2000/svg"><image xlink:href="http://x/a.png"'
     '/></svg>', "refers to other files"),
    ("empty.svg", "not svg at all", "no <svg> element"),
    ("fake.png", "this is text", "not a readable image"),
    ("logo.gif", "GIF89a", "not a PNG, JPEG, WebP or SVG"),
])
def test_bad_files_are_clear_errors(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ImageAssetError, match=problem):
        load_image(path)


def test_a_huge_image_is_refused_before_it_is_decoded(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (9000, 5000)).save(path)  # 45 MP, tiny on disk
    with pytest.raises(ImageAssetError, match="more than 40,000,000"):
        load_image(path)


def test_typeset_fills_the_canvas_with_the_background_and_places_the_product():
    layout = Layout(palette=["#3b2314", "#b5562b", "#f7ecdc"],
                    background_image=PlacedImage(file=str(ASSETS / "background.jpg"),
                                                 fit="cover"),
                    images=[PlacedImage(file=str(ASSETS / "product.png"),
                                        box=(0.55, 0.2, 0.4, 0.6))],
                    logo_path=str(ASSETS / "logo.svg"),
                    texts=[TextBlock(id="h", text="Morning Blend", box=(0.05, 0.4, 0.45, 0.2),
                                     color="#3b2314")])
    res = TypesetBackend().generate(GenerationRequest(prompt="", width=800, height=600,
                                                      layout=layout))
    img = np.asarray(Image.open(io.BytesIO(res.data)).convert("RGB")).astype(int)
    bg = np.asarray(load_image(ASSETS / "background.jpg").convert("RGB").resize((800, 600)))
    # the bottom-left corner is the background photo's table, not a painted gradient
    assert np.abs(img[590, 10] - bg[590, 10].astype(int)).max() < 40
    # the product bag's brown is in its box, centred
    assert abs(img[440, 600][0] - 150) < 40 and img[440, 600][2] < 110


def test_composite_sets_the_product_onto_another_backends_picture():
    picture = Image.new("RGB", (600, 400), (240, 240, 240))
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    layout = Layout(images=[PlacedImage(file=str(ASSETS / "product.png"),
                                        box=(0.6, 0.1, 0.35, 0.8))])
    out = np.asarray(Image.open(io.BytesIO(composite(buf.getvalue(), layout))).convert("RGB"))
    assert tuple(out[5, 5]) == (240, 240, 240)          # outside the box: untouched
    assert out[300, 465][1] < 150                       # inside: the bag


def test_a_palette_comes_from_a_picture():
    pal = image_palette(ASSETS / "background.jpg")
    assert 2 <= len(pal) <= 3 and all(c.startswith("#") for c in pal)


@pytest.mark.parametrize(("kind", "fmt"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_is_encoded_as_asked(kind, fmt):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 100, 50)).save(buf, "PNG")
    out = encode(buf.getvalue(), kind, 80)
    with Image.open(io.BytesIO(out)) as im:
        assert im.format == fmt and im.size == (64, 64)


def test_output_quality_below_the_floor_is_refused():
    from generation.errors import InvalidRequest
    with pytest.raises(InvalidRequest, match="outside 60"):
        encode(b"", "jpeg", 20)
