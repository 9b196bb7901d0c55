"""The look-alike check on the judge's own line quads: the region is not detected again
(real renders, the real rapidocr judge)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from qa.lookalike import _line_quads, verify
from qa.models import OCRLine
from qa.ocr import get_engine
from tests.qa.images import draw_text


def _page(text: str, size: int = 44) -> np.ndarray:
    img = Image.new("RGB", (900, 240), (250, 246, 236))
    draw_text(img, text, (0.05, 0.2, 0.9, 0.6), max_size=size)
    return np.asarray(img)


class _Counting:
    """The real engine, counting the detections the look-alike check asks it for."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.detections = 0

    def read_glyphs(self, img):
        self.detections += 1
        return self.engine.read_glyphs(img)

    def read_line_glyphs(self, img, quads):
        return self.engine.read_line_glyphs(img, quads)

    def recognize(self, line):
        return self.engine.recognize(line)


@pytest.mark.parametrize("drawn,expected,doubted", [
    ("Save $19.99", "Save $19.99", []),
    ("Save $l9.99", "Save $19.99", [6]),   # a serif-less l for the 1
    ("Only $1O9", "Only $109", [7]),       # a round capital O for the 0
])
def test_a_level_line_is_verified_on_its_quad_as_on_a_fresh_detection(drawn, expected, doubted):
    engine = get_engine("rapidocr")
    arr = _page(drawn)
    lines = engine.read(arr)
    assert lines and all(ln.quad is not None for ln in lines)
    box = (min(ln.box[0] for ln in lines), min(ln.box[1] for ln in lines),
           max(ln.box[2] for ln in lines), max(ln.box[3] for ln in lines))
    counting = _Counting(engine)
    on_quads = verify(arr, box, expected, counting, lines=lines)
    assert counting.detections == 0
    detected = verify(arr, box, expected, counting)
    assert counting.detections == 1
    assert [d.index for d in on_quads] == [d.index for d in detected] == doubted, on_quads


def test_read_line_glyphs_reads_a_line_as_read_glyphs_does():
    engine = get_engine("rapidocr")
    arr = _page("Room 1207 opens 9:30")
    quads = [ln.quad for ln in engine.read(arr)]
    assert "".join(e[0] for e in engine.read_line_glyphs(arr, quads)).replace(" ", "") == \
        "".join(e[0] for e in engine.read_glyphs(arr)).replace(" ", "")


def test_a_rotated_line_or_a_box_moved_without_its_quad_is_detected_again():
    engine = get_engine("rapidocr")
    level = ((10.0, 20.0), (210.0, 21.0), (210.0, 60.0), (10.0, 59.0))
    line = OCRLine(text="x", box=(10, 20, 210, 60), quad=level)
    assert _line_quads([line], engine, (0, 0), 2.0) == [
        [(20.0, 40.0), (420.0, 42.0), (420.0, 120.0), (20.0, 118.0)]]
    tilted = ((10.0, 20.0), (210.0, 27.0), (209.0, 60.0), (9.0, 53.0))  # 2 degrees
    assert _line_quads([line.model_copy(update={"quad": tilted, "box": (9, 20, 210, 60)})],
                       engine, (0, 0), 1.0) is None
    assert _line_quads([line.model_copy(update={"box": (40, 20, 240, 60)})],
                       engine, (0, 0), 1.0) is None
    assert _line_quads([line.model_copy(update={"quad": None})], engine, (0, 0), 1.0) is None
    hangul_like = object()  # an engine that cannot recognise given lines
    assert _line_quads([line], hangul_like, (0, 0), 1.0) is None


def test_the_quad_is_not_serialised():
    line = OCRLine(text="x", box=(0, 0, 1, 1), quad=((0, 0), (1, 0), (1, 1), (0, 1)))
    assert "quad" not in line.model_dump()
