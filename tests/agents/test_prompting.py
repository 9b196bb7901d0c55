"""The GLM-Image prompt compiler: exact text in quotes, positions and typography in words,
reinforcement of texts that failed; the edit prompt; spec → renderer layout."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from agents.brief import load_brief, parse_brief
from agents.planner.rules import RulesPlanner
from agents.prompting import (compile_edit_prompt, compile_prompt, glyph_texts, layout_for,
                              position_words, quote, render)
from agents.spec import Box, VisualSpec
from generation.base import Capabilities, Layout
from generation.compose import references_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "briefs"


def _glm_glyph_texts(prompt: str) -> list[str]:
    """GLM-Image's own extraction (diffusers GlmImagePipeline.get_glyph_texts), restated."""
    return (re.findall(r"'([^']*)'", prompt) + re.findall(r"“([^“”]*)”", prompt)
            + re.findall(r'"([^"]*)"', prompt) + re.findall(r"「([^「」]*)」", prompt))


@pytest.fixture(scope="module")
def summer() -> list[VisualSpec]:
    return RulesPlanner().plan(load_brief(EXAMPLES / "summer-sale.yaml"))


def test_every_model_text_is_quoted_exactly_once_and_nothing_else_is(summer):
    poster = summer[0]
    prompt = compile_prompt(poster)
    model_texts = [r.text for r in poster.text_regions if r.render == "model"]
    assert model_texts == ["Summer Sale", "Up to 50% off swimwear, sandals & sunglasses",
                           "From $49.99", "Shop Now"]
    for t in model_texts:
        assert prompt.count(f'"{t}"') == 1
    # what the glyph encoder will receive is exactly the copy, in order
    assert _glm_glyph_texts(prompt) == model_texts
    assert glyph_texts(prompt) == model_texts


def test_overlay_text_is_left_to_signwriter_and_not_quoted(summer):
    poster = summer[0]
    legal = next(r for r in poster.regions if r.id == "legal")
    assert legal.render == "overlay"
    prompt = compile_prompt(poster)
    assert legal.text not in prompt
    assert "Offer valid" not in prompt
    assert "free of any lettering" in prompt and "across the bottom" in prompt


def _sentence_with(prompt: str, text: str) -> str:
    return next(s for s in re.split(r"(?<=[.])\s+(?=[A-Z])", prompt) if text in s)


def test_positions_typography_style_and_brand_are_in_words(summer):
    prompt = compile_prompt(summer[0])
    headline = _sentence_with(prompt, '"Summer Sale"')
    assert "the headline" in headline and "main title" in headline
    assert headline.startswith("Across the top")
    assert "bold" in headline and "very large" in headline
    assert "deep blue" in headline  # #004e89, in words
    assert "rounded coral button" in _sentence_with(prompt, '"Shop Now"')
    assert "Sunny Outfitters" in prompt
    assert "sunny beach with palm leaves" in prompt
    assert "flat illustration style" in prompt
    assert "English" in prompt
    banner = compile_prompt(summer[2])
    assert "landscape web banner" in banner
    assert re.search(r'(At|In) the (upper|top|middle) left, the headline "Summer Sale"', banner)


@pytest.mark.parametrize("brief", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_prompt_is_narrative_prose_in_the_models_own_style(brief):
    """Z.ai's guidance for GLM-Image prompts: fluent prose, no lists or headings, every
    visible text quoted exactly once and nothing else quoted, colours and sizes in words."""
    takes_pictures = Capabilities(reference_images=4)
    for spec in RulesPlanner().plan(load_brief(EXAMPLES / brief)):
        references = references_for(layout_for(spec), takes_pictures)
        for prompt in (compile_prompt(spec),
                       compile_prompt(spec, reinforce=[spec.text_regions[0].text or ""],
                                      attempt=2),
                       compile_prompt(spec, references=references)):
            assert "\n" not in prompt  # one paragraph
            for line in prompt.splitlines():
                assert not re.match(r"\s*([-*•]|\d+[.)])\s", line), line
            outside = re.sub(r'"[^"]*"', "", prompt)
            assert "#" not in outside and "%" not in outside and " px" not in outside
            assert not re.search(r"\b[A-Z][a-z]+( [a-z]+)?:", outside)  # no "Background:"
            model_texts = [quote(r.text or "")[1:-1] for r in spec.text_regions
                           if r.render == "model"]  # quote marks inside made harmless
            assert sorted(_glm_glyph_texts(prompt)) == sorted(model_texts)
            for text in model_texts:
                assert prompt.count(f'"{text}"') == 1
            assert prompt.count('"') == 2 * len(model_texts)
            assert "style" in prompt.split(".")[0]  # the visual style is named up front


def test_pictures_sent_as_reference_images_are_named_where_they_go():
    """roastery-assets brings a product photo, a logo and a background picture: sent as
    reference images, the prose names each by its order and where it goes, and keeps
    no area free for pasting."""
    spec = next(s for s in RulesPlanner().plan(load_brief(EXAMPLES / "roastery-assets.yaml"))
                if s.asset_id == "social-square")
    references = references_for(layout_for(spec), Capabilities(reference_images=4))
    assert [r.role for r in references] == ["product", "logo", "background"]
    prompt = compile_prompt(spec, references=references)
    assert re.search(r"the product from the first reference image is shown whole", prompt)
    assert "brand logo from the second reference image is reproduced small" in prompt
    assert "The background is the scene of the third reference image" in prompt
    assert "placed later" not in prompt and "clear space is left" not in prompt
    # the pictures may carry their own lettering (a wordmark, a label): not forbidden
    assert prompt.endswith("beyond what the reference images themselves show.")
    assert compile_prompt(spec).endswith("anywhere in the image.")
    two = references_for(layout_for(spec), Capabilities(reference_images=2))
    partly = compile_prompt(spec, references=two)
    assert "brand logo from the second reference image" in partly
    assert "third reference image" not in partly


def test_free_text_description_reaches_the_prompt_intact():
    brief = load_brief(EXAMPLES / "coffee-free-text.yaml")
    spec = RulesPlanner().plan(brief)[0]
    prompt = compile_prompt(spec)
    assert "cosy autumn cafe poster with warm browns and a steaming latte on a wooden table" \
        in prompt
    for garble in ("headline the headline", "the subheadline", "the price the price",
                   "the legal"):
        assert garble not in prompt
    assert "warm brown" in prompt.split("The colour palette is")[1].split(".")[0]
    assert "navy" not in prompt  # the default palette is not used when the brief names colours


@pytest.mark.parametrize(("prompt", "described"), [
    ('A poster for "Summer Sale" with "50% off"', "A poster"),
    ('a neon sign reading "OPEN" above the door, on a rainy street',
     "a neon sign above the door, on a rainy street"),
    ('A minimalist tech banner, title "Launch Day". Subtitle "Ship faster". Dark background '
     'with a glowing grid.', "A minimalist tech banner. Dark background with a glowing grid."),
])
def test_free_text_description_loses_only_the_copy_and_its_labels(prompt, described):
    brief = parse_brief({"prompt": prompt})
    assert RulesPlanner().plan(brief)[0].background == described


def test_reinforcement_spells_failed_text_letter_by_letter(summer):
    plain = compile_prompt(summer[0])
    assert "S-u-m-m-e-r" not in plain
    prompt = compile_prompt(summer[0], reinforce=["Summer Sale", "From $49.99"], attempt=3)
    assert "S-u-m-m-e-r S-a-l-e" in prompt
    assert "F-r-o-m $-4-9-.-9-9" in prompt
    assert "came out wrong last time" in prompt
    assert "clearly legible" in prompt
    # reinforcement adds no second copy of any text to the glyph encoder
    assert _glm_glyph_texts(prompt) == _glm_glyph_texts(plain)


def test_chinese_copy_is_quoted_and_reinforced_character_by_character():
    spec = RulesPlanner().plan(load_brief(EXAMPLES / "mid-autumn.yaml"))[0]
    prompt = compile_prompt(spec, reinforce=["中秋团圆"])
    assert '"中秋团圆"' in prompt
    assert "中 秋 团 圆" in prompt and "4 characters" in prompt
    assert "Simplified Chinese" in prompt and "exactly those characters" in prompt
    assert sorted(_glm_glyph_texts(prompt)) == sorted(r.text for r in spec.text_regions
                                                      if r.render == "model")


def test_quote_marks_inside_copy_cannot_break_the_glyph_list():
    brief = parse_brief({
        "name": "quotes", "formats": ["social-square"], "brand": {"name": "Joe's Diner"},
        "style": "retro 50's diner, 'neon' signs",
        "copy": {"headline": 'Say "Cheese"!', "subheadline": "Don't miss Joe's deal",
                 "body": "Open “late” every day"}})
    spec = RulesPlanner().plan(brief)[0]
    prompt = compile_prompt(spec)
    glyphs = _glm_glyph_texts(prompt)
    assert '"Say “Cheese”!"' in prompt
    assert '"Don’t miss Joe’s deal"' in prompt
    # each text reaches the encoder whole; the only extras are quoted words inside a text
    assert "Say “Cheese”!" in glyphs and "Don’t miss Joe’s deal" in glyphs
    assert "Open “late” every day" in glyphs
    assert set(glyphs) <= {"Say “Cheese”!", "Don’t miss Joe’s deal", "Open “late” every day",
                           "Cheese", "late"}
    assert "'" not in prompt  # no stray apostrophe from the brand or the style


def test_unpaired_quote_marks_are_neutralised():
    assert quote('12" pizza') == '"12″ pizza"'
    assert quote("“open") == '"″open"'
    assert _glm_glyph_texts(quote("a “b") + " and " + quote("c” d")) == ["a ″b", "c″ d"]


def test_edit_prompt_replaces_one_text_and_keeps_the_rest(summer):
    poster = summer[0]
    prompt = compile_edit_prompt(poster, "headline", "Summr Sale", "Summer Sale")
    assert prompt.startswith('Replace the text "Summr Sale" with "Summer Sale"')
    assert "#" not in prompt and "%" not in prompt
    assert "keep everything else unchanged" in prompt
    assert "across the top" in prompt
    missing = compile_edit_prompt(poster, "price", None, "From $49.99")
    assert missing.startswith('Add the text "From $49.99"')
    assert "keep everything else unchanged" in missing
    with pytest.raises(KeyError, match="no region 'nope'"):
        compile_edit_prompt(poster, "nope", None, "x")


def test_layout_for_carries_every_region_to_the_renderer(summer):
    poster = summer[0]
    layout = layout_for(poster)
    assert isinstance(layout, Layout)
    assert [b.id for b in layout.texts] == [r.id for r in poster.text_regions]
    by_id = {b.id: b for b in layout.texts}
    head = next(r for r in poster.regions if r.id == "headline")
    assert by_id["headline"].text == "Summer Sale"
    assert by_id["headline"].box == head.box.as_tuple()
    assert by_id["headline"].size == head.typography.size
    assert by_id["headline"].weight == "bold"
    assert by_id["legal"].render == "overlay"
    assert layout.image_boxes == [r.box.as_tuple() for r in poster.regions if r.role == "image"]
    assert layout.palette == ["#ff6b35", "#004e89", "#ffd23f"]
    assert layout.background == poster.background


@pytest.mark.parametrize(("box", "words"), [
    ((0.05, 0.05, 0.9, 0.1), "across the top"),
    ((0.05, 0.85, 0.9, 0.1), "across the bottom"),
    ((0.05, 0.05, 0.3, 0.1), "at the top left"),
    ((0.65, 0.85, 0.3, 0.1), "at the bottom right"),
    ((0.35, 0.45, 0.3, 0.1), "in the centre"),
])
def test_position_words(box, words):
    assert position_words(Box(x=box[0], y=box[1], w=box[2], h=box[3])) == words


def test_templates_are_strict_about_missing_variables():
    with pytest.raises(jinja2.UndefinedError):
        render("planner_repair.j2")
    assert "- bad box" in render("planner_repair.j2", errors=["bad box"])
