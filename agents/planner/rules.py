"""The rules planner: a deterministic layout from presets, no LLM.

Copy is placed verbatim in the preset for the canvas shape (:mod:`agents.layouts`), roles
come from the brief, colours from the brand palette (chosen to contrast with the
background tone the renderer will paint), brand fonts go into the typography, and every
text region is sized with real font metrics (:mod:`agents.fitting`): copy that cannot be
set legibly raises :class:`~agents.errors.TextDoesNotFit` naming the region.
"""

from __future__ import annotations

from agents.brief import Brief, Format
from agents.errors import PlannerError
from agents.fitting import fit_spec
from agents.layouts import Item, place
from agents.planner.base import (CopyEntry, copy_entries, language_of, output_of,
                                 render_policy, strictness, strip_quotes)
from agents.settings import Settings
from agents.spec import Box, ImageRef, Region, Typography, VisualSpec
from generation.backgrounds import read_style
from generation.errors import ImageAssetError
from generation.images import image_palette
from generation.palette import (BLACK, RGB, WHITE, complete_palette, contrast, mix,
                                palette_from_words, parse_hex, roles, to_hex)

FALLBACK_PALETTE = ["#1d3557", "#457b9d", "#f1faee", "#e63946"]
"""Used when the brief names no brand colours."""

BOLD_ROLES = frozenset({"headline", "price", "cta"})
ACCENT_ROLES = frozenset({"headline", "price", "cta"})
"""Large text that may use the brand accent at 3:1 contrast; the rest needs 4.5:1."""


def background_of(brief: Brief, entries: list[CopyEntry]) -> str:
    """What the picture behind the text shows, from the brief's words."""
    if brief.background:
        return brief.background
    if brief.prompt and not brief.copy_:
        described = strip_quotes(brief.prompt, entries)
        if described:
            return described
    return "clean soft gradient in the brand colours"


def palette_of(brief: Brief, background: str) -> list[str]:
    """The brand colours; without them, the colours the brief's words name ("warm browns",
    "deep red night sky"), completed to a usable palette; else the dominant colours of the
    brief's own pictures (background, products, logo); else :data:`FALLBACK_PALETTE`."""
    if brief.brand.colors:
        return list(brief.brand.colors)
    words = palette_from_words(f"{background} {brief.style}")
    if words:
        return words
    pictures = ([brief.images.background.file] if brief.images.background else []) + [
        p.file for p in brief.images.products] + ([brief.brand.logo] if brief.brand.logo
                                                   else [])
    for picture in pictures:
        try:
            found = image_palette(picture)
        except ImageAssetError:  # the brief loader reports a bad file; colours are optional
            continue
        if found:
            return complete_palette([parse_hex(c) for c in found])
    return list(FALLBACK_PALETTE)


def product_boxes(area: tuple[float, float, float, float], n: int, width: int, height: int
                  ) -> list[tuple[float, float, float, float]]:
    """``area`` cut into ``n`` equal boxes along its longer side, with a small gap."""
    x, y, w, h = area
    if n <= 1:
        return [area]
    horizontal = w * width >= h * height
    gap = 0.02 * (w if horizontal else h)
    if horizontal:
        bw = (w - gap * (n - 1)) / n
        return [(round(x + i * (bw + gap), 4), y, round(bw, 4), h) for i in range(n)]
    bh = (h - gap * (n - 1)) / n
    return [(x, round(y + i * (bh + gap), 4), w, round(bh, 4)) for i in range(n)]


def text_colours(palette: list[str], description: str) -> dict[str, str]:
    """A text colour per role that contrasts with the background tone the renderer paints
    for ``description`` (dark words → a dark ground; otherwise light)."""
    pal = roles(palette)
    tone = read_style(description).tone
    if tone == "dark":
        backdrops = [pal.dark, mix(pal.dark, pal.accent, 0.45)]
    else:
        backdrops = [mix(pal.light, WHITE, 0.35), mix(pal.light, pal.accent, 0.22)]

    def worst(c: RGB) -> float:
        return min(contrast(c, b) for b in backdrops)

    colours = [parse_hex(c) for c in palette]
    body = max(colours + [pal.dark, pal.light], key=worst)
    if worst(body) < 4.5:
        body = max([BLACK, WHITE], key=worst)
    accent = pal.accent if worst(pal.accent) >= 3.0 else body
    return {role: to_hex(accent if role in ACCENT_ROLES else body)
            for role in ("headline", "subheadline", "body", "cta", "price", "legal", "label")}


class RulesPlanner:
    """Presets per format shape; the brief's copy verbatim; fitted with real font metrics."""

    name = "rules"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def plan(self, brief: Brief) -> list[VisualSpec]:
        entries = copy_entries(brief)
        if not entries:
            raise PlannerError(
                f"brief '{brief.name}' gives no exact copy: put the text to show in quotes in "
                f"its prompt (or give 'copy' items), or configure an LLM planner "
                f"(SIGNWRITER_LLM_BASE_URL) to write the copy")
        return [self.plan_format(brief, fmt, entries) for fmt in brief.formats]

    def plan_format(self, brief: Brief, fmt: Format, entries: list[CopyEntry]) -> VisualSpec:
        background = background_of(brief, entries)
        palette = palette_of(brief, background)
        colours = text_colours(palette, f"{background} {brief.style}")
        placement = place([Item(e.name, e.role, e.text) for e in entries], fmt.width, fmt.height)
        fonts = brief.brand.fonts
        regions: list[Region] = []
        for e in entries:
            x, y, w, h = placement.boxes[e.name]
            font = (fonts.headline or fonts.body) if e.role == "headline" else fonts.body
            regions.append(Region(
                id=e.name, role=e.role, box=Box(x=x, y=y, w=w, h=h), text=e.text,
                language=language_of(brief, e.text),
                typography=Typography(weight="bold" if e.role in BOLD_ROLES else "regular",
                                      color=colours[e.role], align=placement.align[e.name],
                                      font=font),
                strictness=strictness(e, brief), render=render_policy(brief, e)))
        products = brief.images.products
        if products and not placement.image:
            raise PlannerError(
                f"{fmt.name}: the copy leaves no room for the brief's product images; "
                f"shorten the copy or leave this format out")
        if placement.image and products:
            boxes = product_boxes(placement.image, len(products), fmt.width, fmt.height)
            for i, (product, (x, y, w, h)) in enumerate(zip(products, boxes)):
                regions.append(Region(
                    id=f"product-{i + 1}" if f"product-{i + 1}" not in placement.boxes
                    else f"product-image-{i + 1}", role="image",
                    box=Box(x=x, y=y, w=w, h=h), description="the product photo",
                    image=ImageRef(file=str(product.file), fit=product.fit or "contain",
                                   focus=product.focus)))
        elif placement.image:
            x, y, w, h = placement.image
            image_id = "image" if "image" not in placement.boxes else "image-visual"
            regions.append(Region(id=image_id, role="image", box=Box(x=x, y=y, w=w, h=h),
                                  description=_image_description(brief, background)))
        bg = brief.images.background
        spec = VisualSpec(
            asset_id=fmt.name, format=fmt.name, width=fmt.width, height=fmt.height,
            language=brief.language, background=background, style=brief.style,
            palette=palette, brand=brief.brand.name,
            logo=str(brief.brand.logo) if brief.brand.logo else None,
            background_image=ImageRef(file=str(bg.file), fit=bg.fit or "cover",
                                      focus=bg.focus) if bg else None,
            output=output_of(brief, fmt), regions=regions)
        return fit_spec(spec)


def _image_description(brief: Brief, background: str) -> str:
    """The picture area shows the scene the brief describes."""
    return background
