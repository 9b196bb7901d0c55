"""Overlay legibility: text signwriter sets onto a generated picture is checked for WCAG
contrast against what is really behind it (4.5:1 small, 3:1 large) and gets a backing
panel when no colour reads there, a soft shadow when the backdrop is busy. Real pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generation.base import Layout, TextBlock
from generation.legibility import (BUSY, backdrop, backdrop_contrast, busyness,
                                   required_contrast)
from generation.palette import contrast, parse_hex
from generation.typeset import overlay_blocks, overlay_text


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), "RGB").save(buf, "PNG")
    return buf.getvalue()


def _layout(colour: str, size: float = 0.03, palette: list[str] | None = None) -> Layout:
    return Layout(palette=palette or ["#ffffff", "#777777", "#888888"], texts=[
        TextBlock(id="legal", text="*Offer valid while stocks last. Terms apply.",
                  box=(0.05, 0.82, 0.9, 0.12), color=colour, size=size, role="legal"),
        TextBlock(id="headline", text="Untouched", box=(0.1, 0.1, 0.8, 0.2), color="#111111")])


def test_required_contrast_follows_wcag():
    assert required_contrast(16) == 4.5 and required_contrast(31) == 4.5
    assert required_contrast(32) == 3.0 and required_contrast(80) == 3.0
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)


def test_worst_case_contrast_sees_the_bright_part_of_a_split_backdrop():
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, 100:] = 250  # half black, half near-white
    img = Image.fromarray(arr, "RGB")
    colours = backdrop(img, (0, 0, 200, 100))
    assert backdrop_contrast((255, 255, 255), colours) < 1.1   # white fails on the white half
    assert backdrop_contrast((255, 255, 255), backdrop(img, (0, 0, 100, 100))) > 15


def test_busyness_tells_texture_from_a_gradient():
    flat = Image.fromarray(np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (100, 1))[
        ..., None].repeat(3, 2), "RGB")
    checks = np.indices((100, 300)).sum(0) // 4 % 2 * 200 + 30
    busy = Image.fromarray(checks.astype(np.uint8)[..., None].repeat(3, 2), "RGB")
    assert busyness(flat, (0, 0, 300, 100)) < 0.01
    assert busyness(busy, (0, 0, 300, 100)) > BUSY


def test_a_light_text_on_a_light_picture_gets_a_colour_that_reads():
    picture = np.full((512, 512, 3), 235, np.uint8)  # a pale sky
    out = overlay_text(_png(picture), _layout("#f5f5f5"), {"legal"})
    leg = out.legibility["legal"]
    assert leg.required == 4.5 and leg.ok and leg.treatment == "none"
    used = parse_hex(out.colours["legal"])
    assert contrast(used, (235, 235, 235)) >= 4.5
    assert set(out.legibility) == {"legal"}  # only the overlay blocks are set


def test_a_mid_grey_backdrop_where_nothing_reads_gets_a_panel():
    """Random noise spanning dark to light: no colour reaches 4.5:1 against all of it."""
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 256, (512, 512, 3)).astype(np.uint8)
    out = overlay_text(_png(picture), _layout("#ff0000"), {"legal"})
    leg = out.legibility["legal"]
    assert leg.treatment == "panel" and leg.ok and leg.contrast >= 4.5
    # measured on the output: the pixels around the text are now the panel's
    after = np.asarray(Image.open(io.BytesIO(out.data)).convert("RGB"), np.int16)
    changed = np.where(np.abs(after - picture.astype(np.int16)).max(axis=2) > 40)
    top, left, right = changed[0].min(), changed[1].min(), changed[1].max()
    mid = (left + right) // 2
    strip = after[top + 1:top + 4, mid - 40:mid + 40].reshape(-1, 3).astype(np.float32)
    assert strip.std(axis=0).max() < 12  # the panel's margin is calm: the noise is covered


def test_a_busy_backdrop_whose_colour_passes_still_gets_a_shadow():
    """Dark stripes on a darker ground: white text passes 4.5:1 but the texture is busy."""
    picture = np.zeros((512, 512, 3), np.uint8)
    picture[:, ::6] = 70
    picture[::6, :] = 70
    out = overlay_text(_png(picture), _layout("#ffffff"), {"legal"})
    leg = out.legibility["legal"]
    assert leg.busy > BUSY and leg.treatment == "shadow" and leg.ok
    plain = overlay_blocks(_png(np.zeros((512, 512, 3), np.uint8)), _layout("#ffffff"),
                           {"legal"})
    assert Image.open(io.BytesIO(plain)).size == (512, 512)


def test_overlay_of_something_that_is_not_an_image_is_a_clear_error():
    from generation.errors import InvalidRequest
    with pytest.raises(InvalidRequest, match="not an image"):
        overlay_text(b"not an image", _layout("#ffffff"), {"legal"})
