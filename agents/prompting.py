"""Prompts: the template loader, the GLM-Image prompt compiler and spec → renderer layout.

Every prompt signwriter sends lives in ``prompts/*.j2`` (Jinja2, ``StrictUndefined``);
:func:`render` loads them and is what other modules (the planner, the QA agent) call.

GLM-Image only passes *quoted* text to its glyph encoder: it collects everything between
``'…'``, ``"…"``, ``“…”`` and ``「…」`` anywhere in the prompt. So the compiler puts every
exact text in straight double quotes exactly once, turns straight quote marks inside the
copy into typographic ones (``"`` → ``“…”``, ``'`` → ``’``) so they cannot end a quote
early, and strips quote marks from every other word it writes (style, background, brand).
Regions rendered as ``overlay`` are never quoted: the model leaves their area clear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

import prompts as _prompts_pkg
from agents.spec import Box, Region, VisualSpec
from generation.base import Layout, TextBlock
from generation.fonts import is_cjk

PROMPTS_DIR = Path(_prompts_pkg.__file__).parent

LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese", "zh-cn": "Simplified Chinese",
                  "zh-tw": "Traditional Chinese", "ja": "Japanese", "ko": "Korean",
                  "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch"}

ROLE_LABELS = {"headline": "The headline", "subheadline": "The subheadline",
               "body": "A line of body text", "cta": "A call-to-action button with the text",
               "price": "The price", "legal": "Small print", "label": "A label"}

_COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "black": (17, 17, 17), "white": (255, 255, 255), "grey": (128, 128, 128),
    "light grey": (211, 211, 211), "dark grey": (64, 64, 64), "red": (220, 40, 40),
    "dark red": (139, 0, 0), "orange": (255, 140, 0), "yellow": (255, 215, 0),
    "cream": (255, 248, 220), "gold": (212, 175, 55), "brown": (139, 90, 43),
    "green": (46, 160, 67), "dark green": (0, 100, 0), "teal": (0, 128, 128),
    "light blue": (135, 206, 235), "blue": (30, 100, 220), "navy": (20, 33, 80),
    "purple": (128, 0, 128), "pink": (255, 105, 180), "beige": (245, 222, 179),
    "mint": (189, 252, 201), "coral": (255, 127, 80),
}

_QUOTE_CHARS = "\"'“”‘「」『』"


# ---- template loading ----------------------------------------------------------------

@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment over ``prompts/`` (strict: a missing variable is an error)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS_DIR)), undefined=jinja2.StrictUndefined,
        autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


def render(template_name: str, **ctx: Any) -> str:
    """Render ``prompts/<template_name>`` with ``ctx``; surrounding whitespace is stripped."""
    return environment().get_template(template_name).render(**ctx).strip()


# ---- words for the prompt -------------------------------------------------------------

def quote(text: str) -> str:
    """``text`` in straight double quotes, with quote marks inside made harmless.

    Straight ``"`` pairs become ``“…”`` and ``'`` becomes ``’`` (QA folds both back), and
    an unpaired ``“``/``”``/``「``/``」`` is replaced so it cannot pair with a quote mark of
    another text. Balanced inner quotes stay: GLM-Image then also receives the quoted word
    on its own, which is harmless.
    """
    chars: list[str] = []
    open_quote = True
    for ch in text:
        if ch == '"':
            chars.append("“" if open_quote else "”")
            open_quote = not open_quote
        elif ch == "'":
            chars.append("’")
        else:
            chars.append(ch)
    for left, right, lone_left, lone_right in (("“", "”", "″", "″"), ("「", "」", "『", "』")):
        stack: list[int] = []
        for i, ch in enumerate(chars):
            if ch == left:
                stack.append(i)
            elif ch == right:
                if stack:
                    stack.pop()
                else:
                    chars[i] = lone_right
        for i in stack:
            chars[i] = lone_left
    return '"' + "".join(chars) + '"'


def plain(text: str) -> str:
    """Free words (style, background, brand) with every quote mark removed or softened."""
    text = text.replace("'", "’")
    return " ".join("".join(c for c in text if c not in _QUOTE_CHARS).split())


@lru_cache(maxsize=256)
def colour_name(hex_colour: str) -> str:
    """``#ffd23f`` → ``yellow (#ffd23f)``: the nearest plain name, then the exact hex."""
    v = hex_colour.lstrip("#")
    try:
        rgb = (int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16))
    except ValueError:
        return plain(hex_colour)
    name = min(_COLOUR_NAMES, key=lambda n: sum((a - b) ** 2 for a, b in
                                                 zip(_COLOUR_NAMES[n], rgb)))
    return f"{name} ({hex_colour.lower()})"


def position_words(box: Box) -> str:
    """Where a box sits, in words: ``at the top centre``, ``across the bottom``…"""
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    vertical = ("top" if cy < 0.22 else "upper" if cy < 0.42 else "middle" if cy < 0.58
                else "lower" if cy < 0.78 else "bottom")
    if box.w >= 0.8:
        return {"top": "across the top", "upper": "across the upper part",
                "middle": "across the middle", "lower": "across the lower part",
                "bottom": "across the bottom"}[vertical]
    horizontal = "left" if cx < 0.38 else "right" if cx > 0.62 else "centre"
    if vertical == "middle" and horizontal == "centre":
        return "in the centre"
    if vertical == "middle":
        return f"in the middle {horizontal}"
    return f"at the {vertical} {horizontal}"


def size_words(region: Region) -> str:
    """A relative size from the fitted size (fraction of canvas height) or the role."""
    size = region.typography.size
    if size is None:
        return {"headline": "very large", "price": "large", "subheadline": "medium-large",
                "cta": "medium", "legal": "small"}.get(region.role, "medium")
    word = ("huge" if size >= 0.12 else "very large" if size >= 0.075 else "large"
            if size >= 0.05 else "medium" if size >= 0.03 else "small" if size >= 0.018
            else "very small")
    return f"{word}, letters about {size * 100:.0f}% of the image height"


def typography_words(region: Region) -> str:
    t = region.typography
    weight = "bold" if t.weight == "bold" else "regular-weight"
    face = f"{plain(Path(t.font).stem if ('/' in t.font or '.' in t.font) else t.font)} " \
        if t.font else ""
    lines = "" if "\n" not in (region.text or "") else ", line breaks as written"
    return (f"{weight} {face}lettering, {size_words(region)}, {colour_name(t.color)}, "
            f"{t.align if t.align != 'center' else 'centre'}-aligned{lines}")


def spelled(text: str) -> tuple[str, str]:
    """A text spelt out for a model that got it wrong: (spelling, character count words)."""
    names = {'"': "(quotation mark)", "'": "(apostrophe)", "“": "(opening quotation mark)",
             "”": "(closing quotation mark)", "‘": "(apostrophe)", "「": "(opening bracket)",
             "」": "(closing bracket)", "『": "(opening bracket)", "』": "(closing bracket)"}
    chars = [c for c in text if not c.isspace()]
    if any(is_cjk(c) for c in text):
        out = " ".join(names.get(c, c) for c in chars)
        return out, f"{len(chars)} characters"
    words = text.split()
    if len(text) <= 32:
        out = " ".join("-".join(names.get(c, c) for c in w) for w in words)
    else:
        out = " / ".join("".join(names.get(c, c) for c in w) for w in words)
    return out, f"{len(words)} word{'s' if len(words) != 1 else ''}, {len(chars)} letters and signs"


def _case_note(text: str) -> str:
    letters = [c for c in text if c.isalpha() and not is_cjk(c)]
    if not letters:
        return ""
    if all(c.isupper() for c in letters):
        return "all capitals"
    if all(c.islower() for c in letters):
        return "all lower case"
    return "capital letters exactly where shown"


def _design_kind(spec: VisualSpec) -> str:
    name = spec.format.lower()
    if "poster" in name:
        return "poster design"
    if "story" in name:
        return "vertical story graphic"
    if "social" in name or "card" in name:
        return "social media post design"
    if "leaderboard" in name:
        return "leaderboard web banner"
    if "banner" in name:
        return "web banner design"
    if "slide" in name:
        return "presentation slide design"
    return "graphic design"


def _orientation(spec: VisualSpec) -> str:
    r = spec.width / spec.height
    return "portrait" if r < 0.9 else "landscape" if r > 1.1 else "square"


# ---- the compiler ---------------------------------------------------------------------

def compile_prompt(spec: VisualSpec, *, reinforce: Sequence[str] = (), attempt: int = 1) -> str:
    """The GLM-Image prompt for ``spec`` (``prompts/glm_image.j2``).

    ``reinforce`` lists texts that came out wrong last time: the prompt spells each one
    out (letter by letter for short Latin text, character by character for CJK) and
    stresses exact spelling. ``attempt`` > 1 adds a legibility reminder.
    """
    model_texts = [r for r in spec.text_regions if r.render == "model"]
    overlays = [r for r in spec.text_regions if r.render == "overlay"]
    texts = [{"label": ROLE_LABELS.get(r.role, "A text"), "quoted": quote(r.text or ""),
              "position": position_words(r.box), "typography": typography_words(r)}
             for r in model_texts]
    images = [{"position": position_words(r.box), "description": plain(r.description or "")}
              for r in spec.regions if r.role == "image"]
    logo_regions = [r for r in spec.regions if r.role == "logo"]
    logo = position_words(logo_regions[0].box) if logo_regions else (
        "in a corner" if spec.logo else "")
    by_text = {r.text: r for r in spec.text_regions}
    reinforce_ctx = []
    for text in dict.fromkeys(reinforce):
        region = by_text.get(text)
        spelling, count = spelled(text)
        label = (ROLE_LABELS.get(region.role, "The text") if region else "The text")
        label = label.removesuffix(" with the text").replace("A line of body text",
                                                              "The body text")
        reinforce_ctx.append({"label": label, "spelled": spelling, "count": count,
                              "note": _case_note(text)})
    language = spec.language.lower()
    ctx = {
        "kind": _design_kind(spec), "width": spec.width, "height": spec.height,
        "orientation": _orientation(spec), "brand": plain(spec.brand or ""),
        "style": plain(spec.style), "background": plain(spec.background) or "a clean backdrop",
        "palette": ", ".join(colour_name(c) for c in spec.palette),
        "language_name": LANGUAGE_NAMES.get(language, language),
        "has_cjk": any(is_cjk(c) for r in model_texts for c in (r.text or "")),
        "texts": texts, "images": images, "logo": logo,
        "overlays": [f"the area {position_words(r.box)}" for r in overlays],
        "reinforce": reinforce_ctx, "attempt": attempt,
    }
    return render("glm_image.j2", **ctx)


def compile_edit_prompt(spec: VisualSpec, region_id: str, wrong: str | None, right: str) -> str:
    """An image-edit prompt that fixes one region's text (``prompts/repair.j2``):
    ``Replace the text "Summr Sale" with "Summer Sale" at the top centre, keep everything
    else unchanged…``; with ``wrong`` None (text missing) it asks to add the text."""
    region = next((r for r in spec.regions if r.id == region_id), None)
    if region is None:
        raise KeyError(f"{spec.asset_id}: no region '{region_id}' "
                       f"(regions: {', '.join(r.id for r in spec.regions)})")
    spelling = ""
    if wrong and len(right) <= 32:
        spelling = spelled(right)[0]
    return render("repair.j2", wrong=quote(wrong) if wrong else "", right=quote(right),
                  position=position_words(region.box), typography=typography_words(region),
                  spelled=spelling)


def layout_for(spec: VisualSpec) -> Layout:
    """The plain :class:`generation.base.Layout` a renderer follows for ``spec``."""
    blocks = [TextBlock(id=r.id, text=r.text or "", box=r.box.as_tuple(), role=r.role,
                        language=r.language, color=r.typography.color,
                        weight=r.typography.weight, size=r.typography.size,
                        align=r.typography.align, font=r.typography.font, render=r.render)
              for r in spec.text_regions]
    return Layout(background=spec.background, palette=list(spec.palette), texts=blocks,
                  image_boxes=[r.box.as_tuple() for r in spec.regions if r.role == "image"],
                  logo_path=spec.logo)


def glyph_texts(prompt: str) -> list[str]:
    """What GLM-Image's glyph encoder will receive from ``prompt`` (same four patterns as
    its pipeline's ``get_glyph_texts``): a check that only the intended copy is quoted."""
    return (re.findall(r"'([^']*)'", prompt) + re.findall(r"“([^“”]*)”", prompt)
            + re.findall(r'"([^"]*)"', prompt) + re.findall(r"「([^「」]*)」", prompt))
