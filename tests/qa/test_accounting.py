"""Every character on the image is accounted for: stray text inside or across a region's
box fails the image, and an exact whole-image read never becomes unexpected text."""

from __future__ import annotations

import numpy as np

from qa import check_image, get_engine
from qa.models import OCRLine

from tests.qa.images import Block, render


def test_a_stray_word_across_the_legal_line_is_unexpected(tmp_path):
    """The mid-autumn seed-15 case: a large 爆款 drawn across the legal line's box."""
    light = (250, 240, 220)
    blocks = [Block("headline", "中秋团圆", (0.07, 0.05, 0.86, 0.135), language="zh", fill=light),
              Block("legal", "*活动详情以门店公告为准，最终解释权归月满楼所有",
                    (0.0701, 0.8961, 0.8599, 0.0539), weight="regular", max_size=32,
                    language="zh", fill=light)]
    path, expected = render(tmp_path / "stray.png", blocks, background=(196, 92, 32),
                            extra=[("爆款", (0.04, 0.92, 0.26, 0.05))])
    report = check_image(path, expected)
    assert not report.passed
    assert any("爆款" in (f.read or "") for f in report.unexpected + report.failing), report


def test_a_stray_word_inside_a_roomy_box_is_unexpected(tmp_path):
    blocks = [Block("headline", "Summer Sale", (0.1, 0.05, 0.8, 0.3),
                    draw_box=(0.1, 0.05, 0.8, 0.1), max_size=90)]
    path, expected = render(tmp_path / "roomy.png", blocks,
                            extra=[("FREE GIFT", (0.3, 0.26, 0.4, 0.06))])
    report = check_image(path, expected)
    headline = report.regions[0]
    assert headline.kind == "ok"  # the headline itself is right …
    assert [f.read for f in report.unexpected] == ["FREE GIFT"]  # … the stray is not hidden
    assert not report.passed


class _CropsMisread:
    """The real judge on the whole image; every crop re-read loses its last character
    (a crop pass that does worse than the whole-image pass)."""

    name = "rapidocr"

    def __init__(self, shape):
        self._engine = get_engine("rapidocr")
        self._shape = shape

    def read(self, img: np.ndarray) -> list[OCRLine]:
        lines = self._engine.read(img)
        if img.shape[:2] == self._shape:
            return lines
        return [ln.model_copy(update={"text": ln.text[:-1]}) for ln in lines]


def test_an_exact_whole_image_read_is_never_turned_into_unexpected_text(tmp_path):
    """The cascade bug: the region's text drifted half out of its box, the whole-image
    read of it is exact, the crop re-read is not — the region passes, nothing is
    unexpected."""
    blocks = [Block("headline", "Weekend Market", (0.1, 0.1, 0.8, 0.06),
                    draw_box=(0.1, 0.14, 0.8, 0.06), max_size=64),
              Block("cta", "Visit us today", (0.2, 0.6, 0.6, 0.05), max_size=40)]
    path, expected = render(tmp_path / "drift.png", blocks)
    reader = _CropsMisread((1536, 1024))
    report = check_image(path, expected, reader=reader, recheck=reader)
    assert report.regions[0].kind == "ok", report.regions[0]
    assert report.unexpected == []
    assert report.passed


def test_without_boxes_only_a_sure_read_is_unexpected_text():
    """Boxless (``signwriter qa --expect``): icons read as text at moderate confidence (a
    knife, plate and fork read ``iol`` at 0.70 on the real set) are not unexpected text;
    with boxes every line from :data:`~qa.check.MIN_CONFIDENCE` up still is."""
    from qa.check import BOXLESS_UNEXPECTED_CONFIDENCE, MIN_CONFIDENCE, _Context, _unexpected

    lines = [OCRLine(text="iol", box=(10, 10, 60, 30), confidence=0.70),
             OCRLine(text="FREE GIFT", box=(10, 50, 90, 70), confidence=0.93)]
    ctx = _Context(arr=np.zeros((100, 100, 3), np.uint8), page=lines,
                   engine=get_engine("rapidocr"))
    assert MIN_CONFIDENCE < 0.70 < BOXLESS_UNEXPECTED_CONFIDENCE < 0.93
    assert [f.read for f in _unexpected(ctx, set(), [])] == ["FREE GIFT"]
    assert [f.read for f in _unexpected(ctx, set(), [(0, 80, 20, 99)])] == ["iol", "FREE GIFT"]
