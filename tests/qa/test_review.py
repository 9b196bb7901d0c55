"""Other text in a check without boxes: scene text apart from the verified copy (a badge, a
jersey number, a label in an icon) sends the image to review — never accepted, never a
failure of the copy — while a phrase as prominent as the copy, words on the copy's own
line, a misread copy, or any of it in a check with boxes still fail."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from qa import check_image
from qa.models import ExpectedText, Strictness

from tests.qa.images import draw_text

LENIENT = Strictness(case=False, punctuation=False)
COPY = "Midnight Jazz Festival"
COPY_BOX = (0.08, 0.1, 0.84, 0.14)


def _poster(path: Path, copy: str, others: list[tuple[str, tuple[float, float, float, float],
                                                     int]]) -> Path:
    img = Image.new("RGB", (1024, 1024), (244, 240, 230))
    draw_text(img, copy, COPY_BOX, max_size=80)
    for text, box, size in others:
        draw_text(img, text, box, max_size=size, weight="regular")
    img.save(path)
    return path


def _check(path: Path, *, box: bool = False, text: str = COPY):
    return check_image(path, [ExpectedText(id="title", text=text, strictness=LENIENT,
                                           box=COPY_BOX if box else None)])


def test_a_small_badge_apart_from_the_copy_goes_to_review(tmp_path):
    path = _poster(tmp_path / "badge.png", COPY, [("AFA", (0.7, 0.8, 0.15, 0.06), 30)])
    report = _check(path)
    assert report.regions[0].kind == "ok"
    assert not report.passed  # never accepted …
    assert report.review and report.verdict == "review"  # … but for a person, not a failure
    assert [u.read for u in report.unexpected] == ["AFA"]
    assert "for review" in report.unexpected[0].note
    assert report.model_dump()["verdict"] == "review"


def test_a_phrase_as_prominent_as_the_copy_fails(tmp_path):
    path = _poster(tmp_path / "phrase.png", COPY,
                   [("Hello Earthlings", (0.1, 0.6, 0.8, 0.14), 80)])
    report = _check(path)
    assert report.regions[0].kind == "ok"
    assert not report.passed and not report.review and report.verdict == "fail"


def test_a_word_on_the_line_of_the_copy_fails(tmp_path):
    path = _poster(tmp_path / "hot.png", "HOT " + COPY, [])
    report = _check(path)
    assert report.regions[0].kind == "ok"
    assert not report.passed and not report.review


def test_a_misspelt_copy_with_a_badge_fails(tmp_path):
    path = _poster(tmp_path / "typo.png", "Midnight Jaz Festival",
                   [("AFA", (0.7, 0.8, 0.15, 0.06), 30)])
    report = _check(path)
    assert not report.passed and not report.review


def test_with_boxes_the_badge_still_fails(tmp_path):
    path = _poster(tmp_path / "boxed.png", COPY, [("AFA", (0.7, 0.8, 0.15, 0.06), 30)])
    report = _check(path, box=True)
    assert report.regions[0].kind == "ok"
    assert not report.passed and not report.review
    assert [u.read for u in report.unexpected] == ["AFA"]
