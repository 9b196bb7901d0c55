"""Spec mode at real sizes: the page is detected at the resolution its smallest expected text
allows (cheap at 2048², and at 1024² with large copy), read at full resolution, and the copy
is still judged exactly."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from qa import check_image, get_engine
from qa.models import ExpectedText
from qa import scripts
from qa.ocr import DET_MAX_SIDE, PAGE_DET_MIN_SIDE, PageReader, estimate_text_px, page_det_side

SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def _poster(side: int, items: list[tuple[str, tuple[float, float, float, float], int, str]],
            stray: tuple[str, tuple[int, int], int] | None = None) -> np.ndarray:
    """Text drawn at ``px`` inside each fractional box; optionally a stray line."""
    img = Image.new("RGB", (side, side), (238, 242, 247))
    draw = ImageDraw.Draw(img)
    for text, (x, y, w, h), px, font in items:
        f = ImageFont.truetype(font, px)
        tw = f.getlength(text)
        draw.text((x * side + (w * side - tw) / 2, y * side + (h * side - px * 1.15) / 2), text,
                  font=f, fill=(20, 30, 50))
    if stray:
        text, (sx, sy), px = stray
        draw.text((sx, sy), text, font=ImageFont.truetype(SANS, px), fill=(20, 30, 50))
    return np.asarray(img)


HEAD = ("Winter Warmers", (0.1, 0.1, 0.8, 0.15))
PRICE = ("Only $49.00", (0.2, 0.4, 0.6, 0.1))
LEGAL = ("*Offer ends 31 Jan 2027. Terms apply.", (0.1, 0.9, 0.8, 0.03))


def _expected(*items):
    return [ExpectedText(id=f"r{i}", text=t, box=b) for i, (t, b) in enumerate(items)]


def test_detection_side_follows_the_smallest_expected_text():
    big_only = page_det_side(2048, 2048, [HEAD, PRICE])
    body = ("Fresh sandals for everyone", (0.1, 0.6, 0.8, 0.06))
    with_body = page_det_side(2048, 2048, [HEAD, PRICE, body])
    with_legal = page_det_side(2048, 2048, [HEAD, PRICE, body, LEGAL])
    assert big_only == PAGE_DET_MIN_SIDE < with_body < with_legal == DET_MAX_SIDE
    assert page_det_side(1024, 1024, [HEAD, ("x", None)]) is None   # a text without a box
    # a 3 % high box across 80 % of a 2048 page holds ~50 px text on one line
    assert 45 < estimate_text_px(LEGAL[0], 0.8 * 2048, 0.03 * 2048) < 65
    # the same legal box on a 1024 page: ~25 px at most, so the page is read whole
    reader = get_engine("rapidocr", runtime="onnxruntime")
    judge, _ = scripts.judges(reader, None, _expected(HEAD, LEGAL), (1024, 1024))
    assert judge is reader
    judge, _ = scripts.judges(reader, None, _expected(HEAD, PRICE), (1024, 1024))
    assert isinstance(judge, PageReader) and judge.det_side == PAGE_DET_MIN_SIDE


def test_small_legal_text_far_below_its_box_is_still_read_at_1024():
    # a legal line drawn at 12 px in a box that could hold ~28 px text (seen in generations)
    items = [(HEAD[0], HEAD[1], 80, BOLD), ("While stocks last. See store for details.",
                                           (0.05, 0.91, 0.9, 0.045), 12, SANS)]
    arr = _poster(1024, items)
    reader = get_engine("rapidocr", runtime="onnxruntime")
    exp = _expected(HEAD, ("While stocks last. See store for details.", (0.05, 0.91, 0.9, 0.045)))
    report = check_image("l.png", exp, reader=reader, recheck=reader, pixels=arr)
    assert report.passed, report.regions


def test_2048_poster_with_small_legal_line_passes_and_catches_a_typo():
    items = [(HEAD[0], HEAD[1], 150, BOLD), (PRICE[0], PRICE[1], 110, BOLD),
             (LEGAL[0], LEGAL[1], 40, SANS)]
    arr = _poster(2048, items)
    reader = get_engine("rapidocr", runtime="onnxruntime")
    report = check_image("p.png", _expected(HEAD, PRICE, LEGAL), reader=reader,
                         recheck=reader, pixels=arr)
    assert report.passed, report.regions
    wrong = _poster(2048, items[:2] + [("*Offer ends 21 Jan 2027. Terms apply.", LEGAL[1], 40,
                                        SANS)])
    report = check_image("w.png", _expected(HEAD, PRICE, LEGAL), reader=reader,
                         recheck=reader, pixels=wrong)
    assert not report.passed
    assert [f.kind for f in report.regions] == ["ok", "ok", "misspelt"]


def test_stray_text_as_small_as_the_copy_is_still_unexpected_at_2048():
    items = [(HEAD[0], HEAD[1], 150, BOLD), (PRICE[0], PRICE[1], 110, BOLD)]
    # the smallest copy is ~110 px: a stray line at 60 px, between the regions
    arr = _poster(2048, items, stray=("Limited stock", (700, 1300), 60))
    reader = get_engine("rapidocr", runtime="onnxruntime")
    report = check_image("s.png", _expected(HEAD, PRICE), reader=reader, recheck=reader,
                         pixels=arr)
    assert not report.passed
    assert any("Limited stock" in (f.read or "") for f in report.unexpected), report.unexpected


def test_spec_mode_at_2048_is_cheaper_than_a_full_resolution_read():
    items = [(HEAD[0], HEAD[1], 150, BOLD), (PRICE[0], PRICE[1], 110, BOLD)]
    arr = _poster(2048, items)
    reader = get_engine("rapidocr", runtime="onnxruntime", instances=1)
    reader.read(arr[:256, :256])  # models loaded
    t0 = time.process_time()
    full = reader.read(arr)
    full_cpu = time.process_time() - t0
    t0 = time.process_time()
    report = check_image("c.png", _expected(HEAD, PRICE), reader=reader, recheck=reader,
                         pixels=arr)
    spec_cpu = time.process_time() - t0
    assert report.passed and full  # (full resolution even splits the 110 px price in two)
    assert spec_cpu < full_cpu / 2, (spec_cpu, full_cpu)
