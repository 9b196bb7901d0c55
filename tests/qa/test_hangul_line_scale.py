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
