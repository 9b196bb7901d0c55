"""The Korean judge reads large lines of thin strokes: tesseract's Korean model misread a
regular-weight subtitle on the wide banner of ``winter-sale-ko`` (73 px type, a 96 px crop) as
``월 | OF PE] SICH 50% 알 인``; :class:`qa.ocr.HangulEngine` now scales tall line crops
down to :attr:`~qa.ocr.HangulEngine.LINE_MAX_PX` before tesseract reads them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.fonts import find_font, load_font
from qa.ocr import HangulEngine, get_engine

SUBTITLE = "인기 아우터 최대 50% 할인"


def line(text: str, px: int, weight: str) -> np.ndarray:
    """``text`` in Noto Sans CJK KR at ``px``, navy on the banner's icy blue."""
    font = load_font(find_font("cjk", weight), px, "ko")
    w = int(font.getlength(text)) + 2 * px
    img = Image.new("RGB", (w, int(px * 2.2)), (176, 200, 224))
    ImageDraw.Draw(img).text((px, px * 0.5), text, font=font, fill=(14, 42, 71))
    return np.asarray(img)


@pytest.mark.parametrize("px,weight", [(73, "regular"), (96, "regular"), (110, "bold"),
                                       (40, "regular")])
def test_a_large_korean_line_is_read_as_set(px: int, weight: str) -> None:
    engine = HangulEngine(get_engine("rapidocr"))
    read = " ".join(ln.text for ln in engine.read(line(SUBTITLE, px, weight)))
    assert read == SUBTITLE


def han_line(text: str, px: int, weight: str, lang: str) -> np.ndarray:
    font = load_font(find_font("cjk", weight), px, lang)
    img = Image.new("RGB", (int(font.getlength(text)) + 2 * px, px * 2), (230, 238, 246))
    ImageDraw.Draw(img).text((px, px * 0.4), text, font=font, fill=(14, 42, 71))
    return np.asarray(img)


@pytest.mark.parametrize("text", ["好物", "爆款", "限时抢购", "新品"])
@pytest.mark.parametrize("px,weight,lang", [(36, "bold", "zh"), (30, "bold", "ko"),
                                            (50, "regular", "ko"), (30, "regular", "zh")])
def test_a_han_word_is_read_as_itself_not_as_forced_hangul(text, px, weight, lang) -> None:
    """tesseract's Korean model forces Hangul onto Han glyphs (``好物`` → ``이``, ``기``,
    ``[아이``, at 0.2–0.5): such a doubtful Hangul read gives way to rapidocr's sure read, so
    a stray Chinese word on a Korean poster is reported as what it is (bench examples,
    ``winter-sale-ko`` seeds 13 and 14, were accepted with one)."""
    engine = HangulEngine(get_engine("rapidocr"))
    assert [ln.text for ln in engine.read(han_line(text, px, weight, lang))] == [text]


def test_a_forced_hangul_read_above_one_half_still_gives_way() -> None:
    """``包邮`` in bold at 28 px reads ``[기`` at 0.51 (``好物`` on the wide banner, seed 14,
    read ``기`` at 0.51): doubtful up to 0.8, where the examples' Hangul lines start."""
    engine = HangulEngine(get_engine("rapidocr"))
    crop = han_line("包邮", 28, "bold", "zh")
    text, conf = engine._tesseract_line(crop)
    assert 0.5 <= conf < HangulEngine.HANGUL_DOUBT and text.strip("[")  # the case in point
    assert [ln.text for ln in engine.read(crop)] == ["包邮"]
