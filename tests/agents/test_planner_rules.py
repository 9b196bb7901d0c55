"""The rules planner: every example brief plans, copy verbatim, boxes valid and fitted with
real font metrics; copy that cannot fit is an error naming the region."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agents.brief import Brief, load_brief, parse_brief
from agents.errors import PlannerError, TextDoesNotFit
from agents.fitting import fit_region, fit_spec, font_for
from agents.layouts import PRESETS, Item, place, shape_of
from agents.planner import LLMPlanner, RulesPlanner, make_planner
from agents.planner.base import free_text_roles
from agents.planner.rules import text_colours
from agents.formats import PRESETS as FORMAT_PRESETS
from agents.settings import Settings
from agents.spec import VisualSpec
from generation.fonts import MIN_LEGIBLE_PX, fit_text
from generation.palette import contrast, parse_hex

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"
BRIEFS = sorted(EXAMPLES.glob("*.yaml"))


def _check_spec(spec: VisualSpec, brief: Brief) -> None:
    """What every planned spec must satisfy."""
    # copy verbatim: the multiset of region texts is exactly the brief's copy
    assert Counter(r.text for r in spec.text_regions) == Counter(
        i.text for i in brief.copy_items().values())
    for r in spec.regions:
        x, y, w, h = r.box.as_tuple()
        assert 0 <= x and 0 <= y and x + w <= 1.0001 and y + h <= 1.0001, r.id
    others = [r for r in spec.regions if r.role in ("image", "logo")]
    texts = spec.text_regions
    for i, a in enumerate(texts):
        for b in texts[i + 1:] + others:
            assert not a.box.overlaps(b.box), f"{spec.asset_id}: {a.id} overlaps {b.id}"
    for r in texts:
        size_px = round(r.typography.size * spec.height)
        assert size_px >= MIN_LEGIBLE_PX, (spec.asset_id, r.id, size_px)
        # the planned size really fits: the renderer's own fitter agrees
        fit = fit_text(r.text, r.box.w * spec.width, r.box.h * spec.height,
                       font_path=font_for(r), max_size=size_px)
        assert fit is not None and fit.size == size_px, (spec.asset_id, r.id)


def test_there_are_at_least_four_example_briefs():
    names = {p.stem for p in BRIEFS}
    assert len(names) >= 4
    assert {"summer-sale", "mid-autumn", "tech-conference", "coffee-free-text"} <= names


@pytest.mark.parametrize("path", BRIEFS, ids=[p.stem for p in BRIEFS])
def test_every_example_brief_plans_with_the_rules_planner(path):
    brief = load_brief(path)
    specs = RulesPlanner().plan(brief)
    assert [s.asset_id for s in specs] == [f.name for f in brief.formats]
    assert [(s.width, s.height) for s in specs] == [(f.width, f.height) for f in brief.formats]
    for spec in specs:
        _check_spec(spec, brief)
        VisualSpec.model_validate(spec.model_dump())  # still valid after fitting


def test_summer_sale_roles_palette_policy_and_image():
    brief = load_brief(EXAMPLES / "summer-sale.yaml")
    poster, square, banner = RulesPlanner().plan(brief)
    roles = {r.id: r.role for r in poster.regions}
    assert roles == {"headline": "headline", "subheadline": "subheadline", "price": "price",
                     "cta": "cta", "legal": "legal", "image": "image"}
    assert poster.palette == ["#ff6b35", "#004e89", "#ffd23f"]
    assert poster.brand == "Sunny Outfitters"
    assert poster.background == "sunny beach with palm leaves and a warm orange sky"
    by = {r.id: r for r in poster.regions}
    assert by["legal"].render == "overlay" and by["headline"].render == "model"
    assert by["headline"].typography.weight == "bold"
    # hierarchy a reader notices: the headline is the biggest text, the legal line the smallest
    sizes = {r.id: r.typography.size for r in poster.text_regions}
    assert sizes["headline"] == max(sizes.values())
    assert sizes["legal"] == min(sizes.values())
    # vertical formats: headline on top, legal at the bottom, the image between
    assert by["headline"].box.y < by["image"].box.y < by["legal"].box.y
    # wide banner: text column on the left, image on the right
    bimg = next(r for r in banner.regions if r.role == "image")
    assert all(r.box.x + r.box.w <= bimg.box.x for r in banner.text_regions)


def test_brand_fonts_and_chinese_languages():
    tech = RulesPlanner().plan(load_brief(EXAMPLES / "tech-conference.yaml"))[0]
    head = next(r for r in tech.regions if r.id == "headline")
    assert head.typography.font == "DejaVu Sans"
    assert font_for(head).endswith("DejaVuSans-Bold.ttf")
    moon = RulesPlanner().plan(load_brief(EXAMPLES / "mid-autumn.yaml"))[0]
    langs = {r.id: r.language for r in moon.text_regions}
    assert langs["headline"] == "zh"
    bi = RulesPlanner().plan(load_brief(EXAMPLES / "bilingual-launch.yaml"))[0]
    langs = {r.id: r.language for r in bi.text_regions}
    assert langs["headline"] == "zh" and langs["headline_en"] == "en"


def test_text_colours_contrast_with_the_background_tone():
    light = text_colours(["#ff6b35", "#004e89", "#ffd23f"], "sunny beach, bright")
    dark = text_colours(["#0b1d3a", "#00c2a8", "#f5f7fa"], "dark navy night sky")
    page, night = parse_hex("#ffffff"), parse_hex("#0b1d3a")
    for role, colour in light.items():
        assert contrast(parse_hex(colour), page) >= 4.5, role
    for role, colour in dark.items():
        assert contrast(parse_hex(colour), night) >= 4.5, role


def test_copy_is_placed_verbatim_with_newlines_punctuation_and_case():
    copy = {"headline": "SUMMER\nsale!!", "body": "  50%  off — “everything”…  ",
            "cta": "shop NOW →"}
    brief = parse_brief({"name": "v", "copy": copy, "formats": ["poster-portrait"]})
    spec = RulesPlanner().plan(brief)[0]
    assert spec.copy_texts() == copy


def test_any_number_of_items_stack_without_overlap():
    copy = {f"line{i}": f"Feature number {i} is great" for i in range(12)}
    copy["headline"] = "Twelve Reasons"
    for fmt in ["social-square", "poster-portrait", "banner-wide", "banner-leaderboard"]:
        brief = parse_brief({"name": "many", "copy": copy, "formats": [fmt]})
        spec = RulesPlanner().plan(brief)[0]
        _check_spec(spec, brief)
        assert {r.role for r in spec.text_regions} == {"headline", "body"}


def test_copy_that_cannot_fit_names_the_region():
    brief = parse_brief({"name": "long", "formats": ["banner-leaderboard"], "copy": {
        "headline": "Sale", "legal": "Terms and conditions apply to every purchase. " * 40}})
    with pytest.raises(TextDoesNotFit) as exc:
        RulesPlanner().plan(brief)
    assert exc.value.region_id == "legal"
    assert "banner-leaderboard" in str(exc.value) and "'legal'" in str(exc.value)
    assert "Shorten the copy" in str(exc.value)


def test_one_unbreakable_word_too_wide_does_not_fit():
    brief = parse_brief({"name": "w", "formats": ["card-small"], "copy": {
        "headline": "Hi", "label": "X" * 120}})
    with pytest.raises(TextDoesNotFit, match="'label'"):
        RulesPlanner().plan(brief)


def test_fit_region_respects_a_requested_size_as_upper_bound():
    spec = RulesPlanner().plan(load_brief(EXAMPLES / "summer-sale.yaml"))[0]
    head = next(r for r in spec.regions if r.id == "headline")
    full = fit_region(spec, head).size
    smaller = head.model_copy(update={"typography": head.typography.model_copy(
        update={"size": 40 / spec.height})})
    assert fit_region(spec, smaller).size == 40 < full
    refit = fit_spec(spec)
    assert refit.copy_texts() == spec.copy_texts()
    assert [r.typography.size for r in refit.regions] == [r.typography.size for r in spec.regions]


def test_free_text_brief_quotes_become_exact_copy_with_roles_by_order():
    brief = load_brief(EXAMPLES / "coffee-free-text.yaml")
    spec = RulesPlanner().plan(brief)[0]
    got = {r.text: r.role for r in spec.text_regions}
    assert got == {"Pumpkin Spice is Back": "headline",
                   "Handcrafted with real pumpkin": "subheadline",
                   "$4.50": "price",
                   "*Available at participating stores while supplies last. Terms apply.": "legal"}
    # the quoted copy does not leak into the background words (they are not exact text)
    assert "Pumpkin Spice" not in spec.background and '"' not in spec.background
    assert "latte" in spec.background


@pytest.mark.parametrize(("texts", "roles"), [
    (["Big Sale", "Everything must go", "Come early"], ["headline", "subheadline", "body"]),
    (["$19.99", "Big Sale"], ["price", "headline"]),
    (["Mega Deal", "¥99", "50% off", "Shop now"], ["headline", "price", "price", "cta"]),
    (["中秋快乐", "全场8折", "活动最终解释权归本店所有，详见条款"], ["headline", "subheadline", "legal"]),
    (["Fresh Bread", "Baked daily", "*Terms and conditions apply, see store for details"],
     ["headline", "subheadline", "legal"]),
])
def test_free_text_roles(texts, roles):
    assert free_text_roles(texts) == roles


def test_free_text_brief_without_quotes_needs_an_llm():
    brief = parse_brief({"name": "nq", "prompt": "a poster for our bakery, no idea what to say"})
    with pytest.raises(PlannerError, match="no exact copy"):
        RulesPlanner().plan(brief)


@pytest.mark.parametrize("name", list(FORMAT_PRESETS))
def test_every_format_preset_has_a_layout_shape(name):
    p = FORMAT_PRESETS[name]
    shape = shape_of(p.width, p.height)
    assert shape in PRESETS
    placement = place([Item("h", "headline", "Hello"), Item("c", "cta", "Go")], p.width, p.height)
    assert placement.image is not None  # two short items leave room for an image


def test_make_planner_chooses_by_settings(tmp_path):
    plain = Settings(_env_file=None)
    assert make_planner(plain).name == "rules"
    assert make_planner(plain, "rules").name == "rules"
    with pytest.raises(PlannerError, match="SIGNWRITER_LLM_BASE_URL"):
        make_planner(plain, "llm")
    llm = Settings(_env_file=None, llm_base_url="http://127.0.0.1:9/v1")
    assert isinstance(make_planner(llm), LLMPlanner)
    assert make_planner(llm, "rules").name == "rules"
    assert make_planner(Settings(_env_file=None, planner="rules",
                                 llm_base_url="http://127.0.0.1:9/v1")).name == "rules"


def test_legal_lines_default_to_overlay_and_briefs_can_override() -> None:
    from agents.brief import parse_brief
    from agents.planner import make_planner
    from agents.settings import Settings
    planner = make_planner(Settings(_env_file=None), "rules")
    base = {"copy": {"headline": "Big Sale", "legal": "Terms apply."}, "formats": "social-square"}
    spec = planner.plan(parse_brief(base))[0]
    render = {r.id: r.render for r in spec.text_regions}
    assert render == {"headline": "model", "legal": "overlay"}
    spec = planner.plan(parse_brief({**base, "render_policy": {"legal": "model",
                                                               "headline": "overlay"}}))[0]
    assert {r.id: r.render for r in spec.text_regions} == {"headline": "overlay",
                                                           "legal": "model"}
