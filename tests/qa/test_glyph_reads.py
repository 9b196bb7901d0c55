"""A check reads each crop glyph by glyph once: real rendered lines, the real rapidocr judge."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from qa import check_image
from qa.lookalike import verify, verify_disputed
from qa.ocr import get_engine
from tests.qa.images import Block, line_image, render


class _Counting:
    """The real rapidocr engine, counting the crops it reads glyph by glyph."""

    def __init__(self) -> None:
        self.engine = get_engine("rapidocr")
        self.name = self.engine.name
        self.glyph_reads = 0

    def read_glyphs(self, img: np.ndarray):
        self.glyph_reads += 1
        return self.engine.read_glyphs(img)

    def recognize(self, line: np.ndarray):
        return self.engine.recognize(line)


def _line(tmp_path: Path, text: str) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    return line_image(tmp_path, text, size=96, width=900, at=(60, 60))


def test_a_crop_read_once_is_not_read_again_and_gives_the_same_doubts(tmp_path):
    arr, box = _line(tmp_path, "$1O9")  # a round capital O for the zero of $109
    engine = _Counting()
    fresh = verify(arr, box, "$109", engine)
    assert fresh and engine.glyph_reads == 1  # the O is doubted

    reads: dict = {}
    first = verify(arr, box, "$109", engine, reads=reads)
    again = verify(arr, box, "$109", engine, reads=reads)
    assert first == again == fresh
    assert engine.glyph_reads == 2  # the second verify reused the first one's read

    # the second reader's dispute of the same line reads the same crop
    disputed = verify_disputed(arr, box, "$109", {2: "O"}, engine, reads=reads)
    assert engine.glyph_reads == 2
    assert disputed == verify_disputed(arr, box, "$109", {2: "O"}, engine)
    assert engine.glyph_reads == 3

    # another box is another crop: read
    verify(arr, (box[0] + 4, box[1], box[2], box[3]), "$109", engine, reads=reads)
    assert engine.glyph_reads == 4


def test_a_check_judged_twice_reads_no_crop_twice(tmp_path, monkeypatch):
    """A look-alike fails the fast judge's read, so the image is judged again from scratch
    (OpenVINO at f32): regions boxed as before are not read glyph by glyph again."""
    path, expected = render(tmp_path / "poster.png", [
        Block("headline", "Spring Sale 2025", (0.06, 0.08, 0.88, 0.2), max_size=110),
        Block("price", "Only $109", (0.06, 0.4, 0.88, 0.2), drawn="Only $1O9", max_size=110),
        Block("cta", "Shop now", (0.06, 0.72, 0.88, 0.14), max_size=60),
    ], size=(1024, 1024))
    engine = get_engine("rapidocr")
    crops: list[str] = []
    real = engine.read_glyphs

    def counted(img: np.ndarray):
        crops.append(hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest())
        return real(img)

    monkeypatch.setattr(engine, "read_glyphs", counted)
    report = check_image(path, expected)
    kinds = {f.region_id: f.kind for f in report.regions}
    assert kinds == {"headline": "ok", "price": "misspelt", "cta": "ok"}, report.regions
    assert crops and len(crops) == len(set(crops)), crops


def test_a_first_judgement_that_fails_is_given_up_and_the_verdict_is_the_second_ones(
        tmp_path, monkeypatch):
    """The fast first judgement stops at its first failing region, its look-alike checks
    left undone (the image is judged again from scratch at f32 either way): no crop is
    read glyph by glyph before the f32 page read, and the report is exactly the f32
    judgement's alone."""
    path, expected = render(tmp_path / "poster.png", [
        Block("headline", "Spring Sale", (0.06, 0.08, 0.88, 0.2), drawn="Spring Sael",
              max_size=110),
        Block("price", "Only $19.99", (0.06, 0.4, 0.88, 0.2), max_size=110),
        Block("cta", "Shop now", (0.06, 0.72, 0.88, 0.14), max_size=60),
    ], size=(1024, 1024))
    glyphs, f32 = get_engine("rapidocr"), get_engine("rapidocr", runtime="openvino-f32")
    if f32 is glyphs or f32.runtime == glyphs.runtime:
        pytest.skip("the judge computes at f32 here: there is no first judgement to give up")
    events: list[str] = []
    read_glyphs, read = glyphs.read_glyphs, f32.read

    def glyph_read(img: np.ndarray):
        events.append("glyphs")
        return read_glyphs(img)

    def page_read(img: np.ndarray, det_side: int | None = None):
        if np.asarray(img).shape[:2] == (1024, 1024):  # not a crop the cascade re-reads
            events.append("f32 page")
        return read(img, det_side)

    monkeypatch.setattr(glyphs, "read_glyphs", glyph_read)
    monkeypatch.setattr(f32, "read", page_read)
    report = check_image(path, expected)  # bf16 first, then f32
    assert events == ["f32 page", "glyphs"]  # the price's crop, in the second judgement
    assert ({f.region_id: f.kind for f in report.regions}
            == {"headline": "misspelt", "price": "ok", "cta": "ok"}), report.regions
    alone = check_image(path, expected, reader=f32)
    assert report.model_dump(exclude={"elapsed_s"}) == alone.model_dump(exclude={"elapsed_s"})
