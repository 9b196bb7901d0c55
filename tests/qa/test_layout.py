"""Copy laid out the way image models lay it out: vertical bubbles whose ``ー`` and upright
Latin are one stroke, a long line of dialogue going on in the next panel, the same copy
drawn twice (two shirts, four packs) — on real rendered images read by the real judge,
with the cases that must still fail beside each one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from generation.fonts import find_font, load_font
from qa import check_image
from qa.models import ExpectedText, Strictness
from qa.report import GREY, render_overlay

from tests.qa.images import draw_text

LENIENT = Strictness(case=False, punctuation=False)
SIZE = 56


def _column(img: Image.Image, x: int, y: int, text: str, *, upright: str = "") -> None:
    """``text`` set vertically, one character under the other; the characters in
    ``upright`` turned a quarter (the length mark ``ー`` in vertical setting)."""
    font = load_font(find_font("cjk", "bold"), SIZE)
    draw = ImageDraw.Draw(img)
    for k, ch in enumerate(text):
        at = (x, y + k * int(SIZE * 1.1))
        if ch in upright:
            tile = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
            ImageDraw.Draw(tile).text((0, 0), ch, font=font, fill=(20, 20, 20))
            tile = tile.rotate(-90)
            img.paste(tile, at, tile)
        else:
            draw.text(at, ch, font=font, fill=(20, 20, 20))


def _page(path: Path, columns: list[tuple[int, int, str]], *, upright: str = "") -> Path:
    img = Image.new("RGB", (900, 1200), (250, 246, 236))
    for x, y, text in columns:
        _column(img, x, y, text, upright=upright)
    img.save(path)
    return path


def _check(path: Path, *texts: str, strictness: Strictness = LENIENT):
    return check_image(path, [ExpectedText(id=f"t{k}", text=t, language="ja",
                                           strictness=strictness)
                              for k, t in enumerate(texts)], locate=False)


# -- vertical text ---------------------------------------------------------------------------


def test_an_upright_length_mark_in_vertical_text_is_the_same_stroke_as_i(tmp_path):
    # the judge reads the upright ー of vertical setting as 'I': one stroke either way
    path = _page(tmp_path / "v.png", [(760, 60, "スーパーの"), (680, 60, "セールです")],
                 upright="ー")
    report = _check(path, "スーパーのセールです")
    assert report.passed, report
    assert "one stroke" in report.regions[0].note


def test_a_wrong_kana_in_vertical_text_still_fails(tmp_path):
    path = _page(tmp_path / "v.png", [(760, 60, "スーパーの"), (680, 60, "セーラです")],
                 upright="ー")
    assert not _check(path, "スーパーのセールです").passed


def test_a_sentence_may_go_on_in_the_next_panel(tmp_path):
    # two columns of a bubble, then the next sentence in a bubble of the panel below: in
    # right-to-left column order the lower bubble's columns sit between the upper ones'
    path = _page(tmp_path / "p.png", [(780, 60, "今日は晴れ"), (700, 60, "です"),
                                      (780, 700, "明日は雨"), (700, 700, "でしょう")])
    report = _check(path, "今日は晴れです。明日は雨でしょう。")
    assert report.passed, report
    assert "read across" in report.regions[0].note


def test_without_a_sentence_end_far_columns_are_not_joined(tmp_path):
    path = _page(tmp_path / "p.png", [(780, 60, "今日は晴れ"), (700, 60, "です"),
                                      (780, 700, "明日は雨"), (700, 700, "でしょう")])
    assert not _check(path, "今日は晴れです明日は雨でしょう").passed


def test_a_misspelt_sentence_in_the_next_panel_fails(tmp_path):
    path = _page(tmp_path / "p.png", [(780, 60, "今日は晴れ"), (700, 60, "です"),
                                      (780, 700, "明日は雨"), (700, 700, "でしょか")])
    report = _check(path, "今日は晴れです。明日は雨でしょう。")
    assert not report.passed


# -- the same copy drawn twice ---------------------------------------------------------------


def _shirts(path: Path, second: tuple[float, float, float, float]) -> Path:
    img = Image.new("RGB", (1024, 1024), (236, 240, 246))
    for box in ((0.06, 0.35, 0.38, 0.16), second):
        draw_text(img, "I'm silently judging your font choice", box, max_size=44)
    img.save(path)
    return path


def test_copy_repeated_at_the_same_size_is_noted_not_failed(tmp_path):
    path = _shirts(tmp_path / "two.png", (0.56, 0.35, 0.38, 0.16))
    report = _check(path, "I'm silently judging your font choice")
    assert report.passed, report.unexpected
    assert report.repeats and all(r.kind == "repeat" and r.region_id == "t0"
                                  for r in report.repeats)
    render_overlay(path, report, tmp_path / "overlay.png")  # the repeat boxed in grey
    pixels = np.asarray(Image.open(tmp_path / "overlay.png").convert("RGB"))
    assert (pixels == GREY).all(axis=-1).any()


def test_copy_repeated_at_another_size_is_still_unexpected(tmp_path):
    path = _shirts(tmp_path / "small.png", (0.6, 0.8, 0.2, 0.06))
    report = _check(path, "I'm silently judging your font choice")
    assert not report.passed
    assert report.unexpected and not report.repeats


def test_with_boxes_a_second_copy_outside_the_box_still_fails(tmp_path):
    path = _shirts(tmp_path / "boxed.png", (0.56, 0.35, 0.38, 0.16))
    report = check_image(path, [ExpectedText(id="t0", text="I'm silently judging your font "
                                             "choice", box=(0.06, 0.35, 0.38, 0.16),
                                             strictness=LENIENT)])
    assert not report.passed
    assert report.unexpected and not report.repeats


# -- words on the line of a text -------------------------------------------------------------


def _line(path: Path, text: str) -> Path:
    img = Image.new("RGB", (1200, 400), (250, 246, 236))
    draw_text(img, text, (0.05, 0.3, 0.9, 0.3), max_size=80)
    img.save(path)
    return path


def test_a_word_added_on_the_line_of_the_copy_fails(tmp_path):
    report = _check(_line(tmp_path / "hot.png", "HOT Summer Sale"), "Summer Sale")
    assert report.regions[0].kind == "ok"  # the copy is there…
    assert not report.passed  # …but so is a word nobody asked for
    assert [u.read for u in report.unexpected] == ["HOT"]


def test_several_texts_on_one_line_account_for_each_other(tmp_path):
    path = _line(tmp_path / "names.png", "Clawd → Moltbot → OpenClaw")
    report = _check(path, "Clawd", "Moltbot", "OpenClaw")
    assert report.passed, report.unexpected


def test_upright_latin_in_a_column_of_vertical_text_is_read_in_column_order(tmp_path):
    path = _page(tmp_path / "latin.png", [(780, 60, "一番のおすすめは"), (700, 60, "Claude"),
                                          (620, 60, "との相性")])
    report = _check(path, "一番のおすすめはClaudeとの相性")
    assert report.passed, report
