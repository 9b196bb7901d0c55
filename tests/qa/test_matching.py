"""What counts as the same text: identical glyphs, letter case, pictographs, text spread
over lines, panels and columns — on real rendered images read by the real judge."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from generation.fonts import find_font, load_font
from qa import check_image
from qa.glyphs import identical_note, pictograph_note, same_char, same_text
from qa.models import ExpectedText, Strictness

from tests.qa.images import Block, draw_text, render


# -- identical glyphs --------------------------------------------------------------------------


@pytest.mark.parametrize(("expected", "read"), [
    ("open-source AI", "open-source Al"), ("コーヒー", "コ一ヒ一"), ("台北·信義", "台北・信義"),
    ("ロゴ", "口ゴ"),
])
def test_identical_glyphs_are_the_same_text(expected, read):
    assert same_text(expected, read, case=True)
    assert identical_note(expected, read).startswith("identical glyphs accepted")


@pytest.mark.parametrize(("expected", "read"), [
    ("$19", "$l9"), ("2025", "2O25"),  # never a digit for a letter
    ("9月6日", "9月6曰"), ("未来", "末来"),  # never two ideographs that differ in strokes
    ("Sale", "Saie"),  # i is not l
])
def test_identical_glyph_tolerance_has_limits(expected, read):
    assert not same_text(expected, read, case=False)


@pytest.mark.parametrize("punctuation", [True, False])
def test_wave_dash_and_full_width_tilde_are_one_text(punctuation):
    from qa.check import _same

    exp = ExpectedText(id="t", text="7月1日〜7月31日", language="ja",
                       strictness=Strictness(punctuation=punctuation))
    assert _same("7月1日～7月31日", exp)
    assert not _same("7月1日-7月31日", exp) or not punctuation
    assert not _same("7月1日～7月30日", exp)


def test_case_and_identical_glyphs_do_not_chain():
    assert same_char("L", "l", case=False) and same_char("I", "l", case=True)
    assert not same_char("i", "L", case=False)  # i ~ I ~ l ~ L would make four letters one


def test_a_read_differing_only_by_identical_glyphs_passes_with_a_note(tmp_path):
    """The tech-conference case: the judge may read "AI" in a sans face as "Al"."""
    img = Image.new("RGB", (900, 200), (250, 246, 236))
    ImageDraw.Draw(img).text((30, 60), "open-source Al", fill=(20, 20, 20),
                             font=load_font(find_font("latin", "bold"), 56))
    img.save(tmp_path / "ai.png")
    (f,) = check_image(tmp_path / "ai.png", [ExpectedText(id="t", text="open-source AI",
                                                          strictness=Strictness(case="exact"))],
                       locate=False).regions
    assert f.kind == "ok", f
    if f.read and "Al" in f.read:
        assert "identical glyphs accepted" in f.note


# -- letter case -------------------------------------------------------------------------------


def _caps(tmp_path, case: str):
    path, expected = render(tmp_path / f"caps-{case}.png", [
        Block("brand", "Tesla Inc.", (0.1, 0.1, 0.8, 0.1), drawn="TESLA INC.",
              strictness=Strictness(case=case))])
    return check_image(path, expected)


def test_display_capitals_pass_by_default_with_a_note(tmp_path):
    report = _caps(tmp_path, "any")
    (f,) = report.regions
    assert f.kind == "ok" and "letter case not judged" in f.note
    assert any("letter case" in line for line in report.not_judged)


def test_case_exact_makes_capitals_an_error(tmp_path):
    report = _caps(tmp_path, "exact")
    assert report.regions[0].kind == "misspelt" and not report.passed
    assert report.not_judged == []


# -- pictographs -------------------------------------------------------------------------------


def test_pictographs_are_excluded_with_a_note(tmp_path):
    path, expected = render(tmp_path / "emoji.png", [
        Block("headline", "Glow up ✨", (0.1, 0.1, 0.8, 0.1), drawn="Glow up"),
        Block("stars", "⭐⭐⭐⭐⭐", (0.1, 0.3, 0.8, 0.1), drawn=None)])
    report = check_image(path, expected)
    head, stars = report.regions
    assert head.kind == "ok" and "✨ not verified: pictograph" in head.note
    assert stars.kind == "ok" and "not verified: pictograph" in stars.note and not stars.read
    assert any("pictographs" in line and "✨" in line for line in report.not_judged)
    assert report.passed


def test_pictograph_note_names_each_one_once():
    assert pictograph_note("💪 Strong ⭐⭐ and ✨") == "💪 ⭐ ✨ not verified: pictographs"
    assert pictograph_note("Plain text") == ""


def test_a_missing_word_next_to_a_pictograph_still_fails(tmp_path):
    path, expected = render(tmp_path / "emoji2.png", [
        Block("headline", "Glow up ✨", (0.1, 0.1, 0.8, 0.1), drawn="Glow")])
    assert not check_image(path, expected).passed


# -- text over several lines, panels, columns --------------------------------------------------


def test_a_title_over_four_lines_is_found_in_reading_order(tmp_path):
    img = Image.new("RGB", (1024, 1024), (250, 246, 236))
    for k, word in enumerate(["THE ELECTRIC", "DREAMS", "TOUR", "2024"]):
        draw_text(img, word, (0.1, 0.08 + k * 0.22, 0.8, 0.12), max_size=80)
    img.save(tmp_path / "title.png")
    (f,) = check_image(tmp_path / "title.png",
                       [ExpectedText(id="t", text="The Electric Dreams Tour 2024")],
                       locate=False).regions
    assert f.kind == "ok", f


def test_separators_may_become_panels(tmp_path):
    img = Image.new("RGB", (1536, 512), (250, 246, 236))
    for k, word in enumerate(["Fresh", "Local", "Organic"]):
        draw_text(img, word, (0.04 + k * 0.33, 0.3, 0.26, 0.3), max_size=70)
    img.save(tmp_path / "panels.png")
    (f,) = check_image(tmp_path / "panels.png",
                       [ExpectedText(id="t", text="Fresh - Local - Organic")],
                       locate=False).regions
    assert f.kind == "ok", f
    assert "separators" in f.note


def test_panels_out_of_order_do_not_match(tmp_path):
    img = Image.new("RGB", (1536, 512), (250, 246, 236))
    for k, word in enumerate(["Organic", "Local", "Fresh"]):
        draw_text(img, word, (0.04 + k * 0.33, 0.3, 0.26, 0.3), max_size=70)
    img.save(tmp_path / "panels2.png")
    (f,) = check_image(tmp_path / "panels2.png",
                       [ExpectedText(id="t", text="Fresh - Local - Organic")],
                       locate=False).regions
    assert f.kind != "ok"


def test_vertical_cjk_columns_are_read_right_to_left(tmp_path):
    font = load_font(find_font("cjk", "bold"), 70)
    img = Image.new("RGB", (600, 800), (250, 246, 236))
    draw = ImageDraw.Draw(img)
    for col, text in ((400, "中秋快乐"), (200, "阖家团圆")):
        for k, ch in enumerate(text):
            draw.text((col, 60 + k * 90), ch, font=font, fill=(20, 20, 20))
    img.save(tmp_path / "vertical.png")
    (f,) = check_image(tmp_path / "vertical.png",
                       [ExpectedText(id="t", text="中秋快乐阖家团圆", language="zh")],
                       locate=False).regions
    assert f.kind == "ok", f
    assert "columns right to left" in f.note


def test_every_code_point_in_the_pictograph_table_is_a_pictograph_and_no_other():
    """is_pictograph's quick answer for letters, digits and punctuation changes nothing:
    the table (ranges, joiners and selectors, skin tones) decides for every code point."""
    from qa.glyphs import _PICTO_MARKS, _PICTO_RANGES, is_pictograph

    for o in range(0x110000):
        if 0xD800 <= o <= 0xDFFF:
            continue
        table = (o in _PICTO_MARKS or 0x1F3FB <= o <= 0x1F3FF
                 or any(lo <= o <= hi for lo, hi in _PICTO_RANGES))
        assert is_pictograph(chr(o)) == table, hex(o)
