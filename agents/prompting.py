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
from generation.base import Layout, PlacedImage, ReferenceImage, TextBlock
from generation.fonts import is_cjk
from generation.images import logo_box
from generation.palette import colour_name as palette_colour_name
from generation.palette import contrast, parse_hex
from generation.palette import roles as palette_roles

PROMPTS_DIR = Path(_prompts_pkg.__file__).parent

LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese", "zh-cn": "Simplified Chinese",
                  "zh-tw": "Traditional Chinese", "ja": "Japanese", "ko": "Korean",
                  "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch"}

ROLE_LABELS = {"headline": "the headline", "subheadline": "the subtitle",
               "body": "the body text", "cta": "the button text", "price": "the price",
               "legal": "the small print", "label": "the label"}
"""How the prose names a text's function when it spells it out again."""

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
    """``#ffd23f`` → ``lemon yellow``: the nearest plain name (GLM-Image's guidance wants
    colours in words, never hex codes)."""
    return palette_colour_name(parse_hex(hex_colour))


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
    """A relative size in words, from the fitted size (fraction of canvas height) or the
    role: ``huge``, ``very large``… (no percentages)."""
    size = region.typography.size
    if size is None:
        return {"headline": "very large", "price": "large", "subheadline": "medium-large",
                "cta": "medium", "legal": "small"}.get(region.role, "medium")
    return ("huge" if size >= 0.12 else "very large" if size >= 0.075 else "large"
            if size >= 0.05 else "medium" if size >= 0.03 else "small" if size >= 0.018
            else "very small")


def face_words(region: Region) -> str:
    """The font style in words: a brand family by name, else the house sans-serif."""
    font = region.typography.font
    if not font:
        return "clean sans-serif"
    name = Path(font).stem if ("/" in font or font.lower().endswith((".ttf", ".otf", ".ttc"))) \
        else font
    name = plain(re.sub(r"[-_](Regular|Bold|Medium|Light)$", "", name, flags=re.I))
    serif = "serif" if "serif" in name.lower() and "sans" not in name.lower() else "sans-serif"
    return f"{name} {serif}" if name.lower().replace(" ", "").find("sans") < 0 and \
        "serif" not in name.lower() else name


def typography_words(region: Region) -> str:
    """Weight, size, face and colour in words (for the edit prompt)."""
    t = region.typography
    weight = "bold" if t.weight == "bold" else "regular"
    return (f"{size_words(region)} {weight} {face_words(region)} lettering in "
            f"{colour_name(t.color)}")


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


_KINDS = (("poster", "poster design", "poster"), ("story", "vertical story graphic", "graphic"),
          ("social", "social media post", "post"), ("card", "social media card", "card"),
          ("leaderboard", "leaderboard web banner", "banner"),
          ("banner", "web banner", "banner"), ("slide", "presentation slide", "slide"))


def _design_kind(spec: VisualSpec) -> tuple[str, str]:
    """What the asset is (``poster design``) and the surface its text is printed on."""
    name = spec.format.lower()
    for key, kind, surface in _KINDS:
        if key in name:
            return kind, surface
    return "graphic design", "design"


def _orientation(spec: VisualSpec) -> str:
    r = spec.width / spec.height
    return "portrait" if r < 0.9 else "landscape" if r > 1.1 else "square"


_DETERMINERS = {"a", "an", "the", "this", "that", "some", "two", "three", "several", "many",
                "its", "their", "our", "one"}


def _article(words: str) -> str:
    return "an" if words[:1].lower() in "aeiou" else "a"


def _noun_phrase(description: str) -> str:
    """``deep red night sky…`` → ``a deep red night sky…``; a description that already
    starts with a determiner keeps its own words (only its first letter is lowered)."""
    words = description.split()
    if not words:
        return description
    first = words[0].lower()
    if words[0][1:2].islower() or len(words[0]) == 1:
        description = description[0].lower() + description[1:]
    if first in _DETERMINERS or first.endswith("s") and first not in ("glass", "ss"):
        return description
    return f"{_article(description)} {description}"


def style_words(style: str) -> str:
    """The visual style named, as GLM-Image's guidance asks: ``a flat illustration
    style``; without one, a clean graphic design style."""
    style = plain(style).rstrip(".")
    if not style:
        return "a clean, modern graphic design style"
    phrase = style if "style" in style.lower() else f"{style} style"
    return f"{_article(phrase)} {phrase}"


def _prose(text: str) -> str:
    """One paragraph: runs of whitespace outside the quoted texts become one space (a
    quoted text keeps its own line breaks, which GLM-Image is told to reproduce)."""
    def squash(p: str) -> str:
        inner = " ".join(p.split())
        if not inner:
            return " " if p else ""
        return (" " if p[:1].isspace() else "") + inner + (" " if p[-1:].isspace() else "")

    parts = re.split(r'("[^"]*")', text)
    out = "".join(p if i % 2 else squash(p) for i, p in enumerate(parts))
    return re.sub(r" +([.,])", r"\1", out).strip()


# ---- the compiler ---------------------------------------------------------------------

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _reference_words(references: Sequence[ReferenceImage]) -> dict[tuple[str, str], str]:
    """``(role, file)`` → ``the second reference image``: how the prose names each picture
    sent with the request, in the order it is sent."""
    return {(r.role, r.file): f"the {_ORDINALS[i] if i < len(_ORDINALS) else str(i + 1) + 'th'}"
            " reference image" for i, r in enumerate(references)}


def compile_prompt(spec: VisualSpec, *, reinforce: Sequence[str] = (), attempt: int = 1,
                   references: Sequence[ReferenceImage] = ()) -> str:
    """The GLM-Image prompt for ``spec`` (``prompts/glm_image.j2``): one paragraph of
    narrative prose in the style of Z.ai's own prompt guidance.

    ``reinforce`` lists texts that came out wrong last time: the prompt spells each one
    out (letter by letter for short Latin text, character by character for CJK) and
    stresses exact spelling. ``attempt`` > 1 adds a legibility reminder. ``references``
    are the brief's pictures sent with the request, in order: the prose asks the model
    to draw each one where it goes (a picture not sent keeps its area free, for
    signwriter to set it after generation).
    """
    ref_words = _reference_words(references)
    model_texts = [r for r in spec.text_regions if r.render == "model"]
    overlays = [r for r in spec.text_regions if r.render == "overlay"]
    texts = [{"role": r.role, "quoted": quote(r.text or ""), "position": position_words(r.box),
              "size": size_words(r), "weight": "bold" if r.typography.weight == "bold"
              else "regular", "face": face_words(r), "colour": colour_name(r.typography.color),
              "align": {"left": "aligned left", "right": "aligned right"}.get(
                  r.typography.align, "centred"),
              "lines": "\n" in (r.text or "")}
             for r in model_texts]
    background = plain(spec.background)
    images = [{"position": position_words(r.box), "photo": r.image is not None,
               "reference": ref_words.get(("product", r.image.file)) if r.image else None,
               "description": _noun_phrase(plain(r.description or "") or background)}
              for r in spec.regions if r.role == "image"]
    logo_regions = [r for r in spec.regions if r.role == "logo"]
    logo = position_words(logo_regions[0].box) if logo_regions else (
        position_words(Box(**dict(zip("xywh", logo_box(layout_for(spec))))))
        if spec.logo else "")
    logo_reference = ref_words.get(("logo", spec.logo)) if spec.logo else None
    background_reference = (ref_words.get(("background", spec.background_image.file))
                            if spec.background_image else None)
    by_text = {r.text: r for r in spec.text_regions}
    reinforce_ctx = []
    for text in dict.fromkeys(reinforce):
        region = by_text.get(text)
        spelling, count = spelled(text)
        reinforce_ctx.append({"label": ROLE_LABELS.get(region.role, "the text") if region
                              else "the text", "spelled": spelling, "count": count,
                              "note": _case_note(text)})
    languages = list(dict.fromkeys(
        LANGUAGE_NAMES.get(lang, lang) for lang in
        [spec.language.lower(), *(r.language.lower() for r in model_texts)]
        if any(r.language.lower() == lang for r in model_texts) or not model_texts))
    shows_scene = any(i["description"] == _noun_phrase(background) for i in images)
    scene = ("The rest of the canvas is a calm backdrop in the palette colours, with room "
             "for the text." if shows_scene or not background
             else f"The background is {_noun_phrase(background)}.")
    if background_reference:
        scene = (f"The background is the scene of {background_reference}, kept as it is, "
                 "with calm areas left for the text.")
    kind, surface = _design_kind(spec)
    pal = palette_roles(list(spec.palette))
    for t, r in zip(texts, model_texts):  # a button's text contrasts with the button
        if r.role == "cta":
            own = parse_hex(r.typography.color)
            best = max((own, pal.light, pal.dark), key=lambda c: contrast(c, pal.accent))
            if contrast(own, pal.accent) < 3.0:
                t["colour"] = palette_colour_name(best)
    ctx = {
        "article": _article(_orientation(spec)), "kind": kind, "surface": surface,
        "orientation": _orientation(spec), "brand": plain(spec.brand or ""),
        "style": style_words(spec.style), "scene_sentence": scene,
        "palette": _and([colour_name(c) for c in dict.fromkeys(spec.palette)]),
        "button": palette_colour_name(pal.accent),
        "language_name": " and ".join(languages),
        "has_cjk": any(is_cjk(c) for r in model_texts for c in (r.text or "")),
        "texts": texts, "images": images, "logo": logo, "logo_reference": logo_reference,
        "has_references": bool(references),
        "overlays": [position_words(r.box) for r in overlays],
        "reinforce": reinforce_ctx, "attempt": attempt,
    }
    return _prose(render("glm_image.j2", **ctx))


def _and(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


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
    return _prose(render("repair.j2", wrong=quote(wrong) if wrong else "", right=quote(right),
                         position=position_words(region.box),
                         typography=typography_words(region), spelled=spelling))


def layout_for(spec: VisualSpec) -> Layout:
    """The plain :class:`generation.base.Layout` a renderer follows for ``spec``."""
    images = [PlacedImage(file=r.image.file, box=r.box.as_tuple(), fit=r.image.fit,
                          focus=r.image.focus)
              for r in spec.regions if r.role == "image" and r.image is not None]
    bg = spec.background_image
    blocks = [TextBlock(id=r.id, text=r.text or "", box=r.box.as_tuple(), role=r.role,
                        language=r.language, color=r.typography.color,
                        weight=r.typography.weight, size=r.typography.size,
                        align=r.typography.align, font=r.typography.font, render=r.render)
              for r in spec.text_regions]
    return Layout(background=spec.background, palette=list(spec.palette), texts=blocks,
                  image_boxes=[r.box.as_tuple() for r in spec.regions
                               if r.role == "image" and r.image is None],
                  images=images, logo_path=spec.logo,
                  background_image=PlacedImage(file=bg.file, fit=bg.fit, focus=bg.focus)
                  if bg else None)


def glyph_texts(prompt: str) -> list[str]:
    """What GLM-Image's glyph encoder will receive from ``prompt`` (same four patterns as
    its pipeline's ``get_glyph_texts``): a check that only the intended copy is quoted."""
    return (re.findall(r"'([^']*)'", prompt) + re.findall(r"“([^“”]*)”", prompt)
            + re.findall(r'"([^"]*)"', prompt) + re.findall(r"「([^「」]*)」", prompt))
