"""Typography a designer would accept: line breaks by each language's rules, the language's
own Noto CJK face, matching faces for mixed scripts, optical centring of CJK punctuation
and safe zones per format. Real fonts, real Pillow rendering."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from agents.brief import load_brief
from agents.layouts import safe_area, shape_of
from agents.planner.rules import RulesPlanner
from agents.prompting import layout_for
from generation.base import GenerationRequest, Layout, TextBlock
from generation.fonts import (NO_LINE_END, NO_LINE_START, break_units, face_index, find_font,
                              fit_text, font_path_for, typeface, wrap)
from generation.typeset import TypesetBackend

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"


def _wraps(text: str, language: str, size: int = 40, down_to: float = 0.2
           ) -> list[list[str]]:
    """``text`` wrapped at widths from its full width down to ``down_to`` of it."""
    face = typeface(text, size, language=language)
    full = face.getlength(text)
    out = []
    for frac in np.linspace(1.0, down_to, 25):
        lines = wrap(text, face, full * frac, language=language)
        if lines is not None:
            out.append(lines)
    return out


@pytest.mark.parametrize(("text", "language"), [
    ("韓系美妝快閃店", "zh-tw"),
    ("*活动详情以门店公告为准，最终解释权归月满楼所有", "zh"),
    ("「新発売」のお知らせ。価格12,800円（税込）送料無料", "ja"),
    ("月满人团圆，礼盒传心意", "zh"),
])
def test_cjk_lines_follow_kinsoku_and_never_leave_one_character_alone(text, language):
    for lines in _wraps(text, language, down_to=0.35):
        assert "".join(lines) == text
        for ln in lines:
            assert ln[0] not in NO_LINE_START, lines
            assert ln[-1] not in NO_LINE_END, lines
        if len(lines) > 1:
            assert len(lines[-1]) > 1, f"one-character orphan: {lines}"


def test_orphan_from_the_issue_is_balanced():
    face = typeface("韓系美妝快閃店", 40, language="zh-tw")
    lines = wrap("韓系美妝快閃店", face, face.getlength("韓系美妝快閃") + 1, language="zh-tw")
    assert lines == ["韓系美妝", "快閃店"]


@pytest.mark.parametrize(("text", "language", "whole"), [
    ("Now only $129 (was $179) for members", "en", ["(was $179)", "$129"]),
    ("価格12,800円（税込）送料無料", "ja", ["12,800円", "（税込）", "送料無料"]),
    ("*Offer valid 1–31 July 2025 while stocks last.", "en", ["1–31 July"]),
    ("活动时间9月6日—9月17日，售价¥168起", "zh", ["9月6日—9月17日", "¥168起"]),
    ("From $49.99 — Up to 50% off", "en", ["$49.99", "50% off"]),
])
def test_numbers_prices_dates_and_units_are_never_broken(text, language, whole):
    for lines in _wraps(text, language):
        for w in whole:
            assert any(w in ln for ln in lines), f"{w!r} broken across {lines}"


def test_korean_breaks_between_words_not_syllables():
    text = "지금 바로 구매하세요 최대 50% 할인 이벤트"
    words = set(text.split())
    for lines in _wraps(text, "ko"):
        for ln in lines:
            assert set(ln.split()) <= words, lines


def test_headlines_are_balanced_not_greedy():
    text = "Up to 50% off swimwear, sandals & sunglasses"
    face = typeface(text, 40)
    width = face.getlength(text) * 0.8
    greedy = wrap(text, face, width, balance=False)
    balanced = wrap(text, face, width)
    assert len(greedy) == len(balanced) == 2
    spread = lambda ls: abs(face.getlength(ls[0]) - face.getlength(ls[1]))  # noqa: E731
    assert spread(balanced) < spread(greedy)


def test_break_units_keep_short_brackets_whole():
    assert "(was $179) " in break_units("Now only $129 (was $179) for members", "en")


@pytest.mark.parametrize(("language", "family"), [
    ("ja", "Noto Sans CJK JP"), ("ko", "Noto Sans CJK KR"), ("zh", "Noto Sans CJK SC"),
    ("zh-cn", "Noto Sans CJK SC"), ("zh-tw", "Noto Sans CJK TC"), ("zh-hk", "Noto Sans CJK HK"),
])
def test_each_language_gets_its_own_noto_cjk_face(language, family):
    face = typeface("直骨", 40, language=language)
    assert face.primary.getname()[0] == family
    path = find_font("cjk", "bold")
    assert typeface("直骨", 40, weight="bold", language=language).primary.getname()[0] == family
    assert face_index(path, language) != face_index(path, "zh") or language.startswith(
        ("zh-cn", "zh"))


def _ink(text: str, language: str) -> np.ndarray:
    img = Image.new("L", (200, 100), 0)
    typeface(text, 64, language=language).draw(ImageDraw.Draw(img), (20, 80), text, fill=255)
    return np.asarray(img)


def test_japanese_and_simplified_chinese_glyphs_really_differ():
    assert (_ink("直", "ja") != _ink("直", "zh")).sum() > 50


def test_latin_text_on_a_cjk_layout_uses_the_cjk_face_not_dejavu():
    spec = RulesPlanner().plan(load_brief(EXAMPLES / "bilingual-launch.yaml"))[0]
    grand = next(r for r in spec.text_regions if r.text == "Grand Opening")
    assert grand.language == "en"
    path = font_path_for(grand.text or "", "regular", None, grand.language, "zh")
    assert "NotoSansCJK" in path and "DejaVu" not in path
    fit = fit_text("Grand Opening", 600, 100, language="en", context="zh")
    assert fit is not None and "NotoSansCJK" in fit.font_path


def test_a_latin_brand_font_sets_cjk_runs_in_the_noto_cjk_face(tmp_path):
    brand = tmp_path / "Brand-Regular.ttf"
    shutil.copy(find_font("latin", "regular"), brand)  # a Latin-only font file
    face = typeface("Visit us 欢迎光临", 40, family=str(brand), language="zh")
    runs = face.runs("Visit us 欢迎光临")
    assert [t for t, _ in runs] == ["Visit us ", "欢迎光临"]
    assert runs[0][1].path == str(brand)
    assert runs[1][1].getname()[0] == "Noto Sans CJK SC"


def test_cjk_punctuation_is_optically_centred():
    """A centred line ending in a full-width comma: the ink, not the em boxes, is centred."""
    layout = Layout(background="solid white", palette=["#ffffff", "#111111"], texts=[
        TextBlock(id="t", text="月满人团圆，", box=(0.1, 0.3, 0.8, 0.3), language="zh",
                  color="#111111")])
    res = TypesetBackend().generate(GenerationRequest(prompt="", width=800, height=400,
                                                      layout=layout))
    arr = np.asarray(Image.open(__import__("io").BytesIO(res.data)).convert("L"))
    cols = np.where((arr < 100).any(axis=0))[0]
    centre = (cols.min() + cols.max()) / 2
    assert abs(centre - 400) <= 3, centre


@pytest.mark.parametrize("brief", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_text_sits_inside_the_formats_safe_zone(brief):
    for spec in RulesPlanner().plan(load_brief(EXAMPLES / brief)):
        sx, sy, sw, sh = safe_area(spec.width, spec.height)
        for r in spec.text_regions:
            b = r.box
            assert b.x >= sx - 1e-6 and b.y >= sy - 1e-6, (spec.asset_id, r.id)
            assert b.x + b.w <= sx + sw + 1e-6 and b.y + b.h <= sy + sh + 1e-6, (
                spec.asset_id, r.id)


def test_story_keeps_the_legal_line_out_of_the_bottom_band():
    spec = next(s for s in RulesPlanner().plan(load_brief(EXAMPLES / "mid-autumn.yaml"))
                if s.asset_id == "story-vertical")
    assert shape_of(spec.width, spec.height) == "story"
    for r in spec.text_regions:
        assert r.box.y >= 0.14 and r.box.y + r.box.h <= 0.80, r.id
    legal = next(r for r in spec.text_regions if r.role == "legal")
    # and it is still set at a legible size inside the safe zone
    res = TypesetBackend().generate(GenerationRequest(
        prompt="", width=spec.width, height=spec.height, layout=layout_for(spec)))
    assert res.metadata["fitted"][legal.id] >= 14
