"""Colours: parsing ``#rrggbb``, WCAG luminance and contrast, and a palette's roles.

The typeset renderer uses these to pick background tones from a layout's palette and to
make sure every piece of text contrasts with whatever is behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]

BLACK: RGB = (17, 17, 17)
WHITE: RGB = (255, 255, 255)

MIN_TEXT_CONTRAST = 4.5
"""WCAG AA contrast for normal text: what the renderer guarantees between text and backdrop."""

MIN_LARGE_TEXT_CONTRAST = 3.0
"""WCAG AA contrast for large text (the renderer applies it from ``LARGE_TEXT_PX`` up)."""

LARGE_TEXT_PX = 32


def parse_hex(value: str, default: RGB = BLACK) -> RGB:
    """``#rrggbb`` (or ``#rgb``) to an RGB tuple; anything unparsable gives ``default``."""
    v = value.strip().lstrip("#")
    if len(v) == 3:
        v = "".join(c * 2 for c in v)
    if len(v) != 6:
        return default
    try:
        return (int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16))
    except ValueError:
        return default


def to_hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(max(0, min(255, int(c))) for c in rgb))


def _channel(c: float) -> float:
    c = c / 255.0
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: RGB | tuple[float, float, float]) -> float:
    """WCAG relative luminance, 0 (black) to 1 (white)."""
    r, g, b = rgb
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: RGB | tuple[float, float, float], b: RGB | tuple[float, float, float]) -> float:
    """WCAG contrast ratio between two colours, 1 (none) to 21 (black on white)."""
    la, lb = luminance(a), luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` blended towards ``b`` by ``t`` (0 = a, 1 = b)."""
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t),
            round(a[2] + (b[2] - a[2]) * t))


def saturation(rgb: RGB) -> float:
    hi, lo = max(rgb), min(rgb)
    return 0.0 if hi == 0 else (hi - lo) / hi


@dataclass(frozen=True)
class Roles:
    """A palette sorted into what a designer would use each colour for."""

    dark: RGB
    light: RGB
    accent: RGB
    colours: tuple[RGB, ...]


def roles(palette: list[str]) -> Roles:
    """The darkest, lightest and most saturated mid colour of ``palette``.

    A palette with one colour (or none) is completed with tints so every role exists.
    """
    cols = [parse_hex(c) for c in palette] or [(29, 53, 87)]
    by_lum = sorted(cols, key=luminance)
    dark, light = by_lum[0], by_lum[-1]
    if contrast(dark, light) < 3:  # one-colour or flat palette: derive a light and a dark tint
        if luminance(dark) > 0.4:
            dark = mix(dark, BLACK, 0.75)
        else:
            light = mix(light, WHITE, 0.85)
    mids = [c for c in cols if c not in (by_lum[0], by_lum[-1])] or cols
    accent = max(mids, key=lambda c: (saturation(c), -abs(luminance(c) - 0.3)))
    return Roles(dark=dark, light=light, accent=accent, colours=tuple(cols))


def best_text_colour(backdrops: list[tuple[float, float, float]], candidates: list[RGB]
                     ) -> tuple[RGB, float]:
    """The candidate with the highest worst-case contrast against every backdrop colour."""
    best, score = candidates[0], -1.0
    for c in candidates:
        worst = min(contrast(c, b) for b in backdrops)
        if worst > score + 1e-9:
            best, score = c, worst
    return best, score


# -- colours in words -------------------------------------------------------------------

NAMED_COLOURS: dict[str, RGB] = {
    "black": (17, 17, 17), "near-black": (36, 36, 36), "charcoal": (54, 69, 79), "dark grey": (64, 64, 64),
    "grey": (128, 128, 128), "silver": (192, 192, 192), "light grey": (211, 211, 211),
    "white": (255, 255, 255), "off-white": (248, 246, 240), "ivory": (255, 255, 240),
    "cream": (255, 248, 220), "beige": (245, 222, 179), "sand": (214, 190, 150),
    "tan": (210, 180, 140), "caramel": (175, 111, 57), "brown": (139, 90, 43),
    "warm brown": (120, 72, 40), "chocolate brown": (82, 48, 30), "dark brown": (60, 38, 24),
    "light beige": (232, 220, 202), "coffee brown": (101, 67, 33),
    "dark red": (139, 0, 0), "burgundy": (128, 0, 32), "maroon": (110, 20, 35),
    "crimson": (200, 20, 60), "red": (220, 40, 40), "coral": (255, 127, 80),
    "salmon": (250, 128, 114), "peach": (255, 203, 164), "orange": (255, 140, 0),
    "burnt orange": (204, 85, 0), "amber": (255, 191, 0), "mustard": (215, 170, 40),
    "gold": (212, 175, 55), "yellow": (255, 215, 0), "lemon yellow": (255, 244, 79),
    "olive": (128, 128, 0), "lime green": (50, 205, 50), "green": (46, 160, 67),
    "forest green": (34, 100, 34), "dark green": (0, 80, 0), "sage green": (156, 175, 136),
    "mint": (189, 252, 201), "teal": (0, 128, 128), "turquoise": (64, 224, 208),
    "sky blue": (135, 206, 235), "light blue": (173, 216, 230), "blue": (30, 100, 220),
    "ocean blue": (0, 94, 184), "steel blue": (70, 130, 180), "deep blue": (0, 60, 140),
    "navy": (20, 33, 80), "midnight blue": (15, 20, 50), "indigo": (75, 0, 130),
    "purple": (128, 0, 128), "violet": (143, 0, 255), "lavender": (200, 180, 230),
    "lilac": (200, 162, 200), "magenta": (220, 0, 140), "hot pink": (255, 105, 180),
    "pink": (240, 150, 180), "pastel pink": (255, 209, 220), "rose": (230, 90, 120),
}
"""Plain colour names and a representative sRGB value: the words a prompt uses for a
palette colour (nearest name) and the colours a brief's words ("warm browns") ask for."""

_SINGULAR = {"browns": "brown", "reds": "red", "blues": "blue", "greens": "green",
             "yellows": "yellow", "oranges": "orange", "pinks": "pink", "purples": "purple",
             "greys": "grey", "grays": "grey", "golds": "gold", "creams": "cream",
             "neutrals": "beige", "earth tones": "brown", "pastels": "pastel pink",
             "gray": "grey", "navy blue": "navy", "golden": "gold", "silvery": "silver"}

_MODIFIERS = {"warm": 0.0, "deep": -0.35, "dark": -0.4, "rich": -0.2, "light": 0.45,
              "pale": 0.55, "soft": 0.3, "muted": 0.15, "bright": 0.0, "pastel": 0.6}


def colour_name(rgb: RGB) -> str:
    """The nearest plain name for ``rgb`` (``deep blue``, ``gold``…), by distance in a
    perceptually weighted RGB space."""
    def dist(c: RGB) -> float:
        rm = (c[0] + rgb[0]) / 2
        dr, dg, db = c[0] - rgb[0], c[1] - rgb[1], c[2] - rgb[2]
        return (2 + rm / 256) * dr * dr + 4 * dg * dg + (2 + (255 - rm) / 256) * db * db
    return min(NAMED_COLOURS, key=lambda n: dist(NAMED_COLOURS[n]))


def colours_in_words(text: str) -> list[RGB]:
    """The colours a description asks for, in order: ``warm browns and cream`` →
    [warm brown, cream]; ``deep red night sky with a golden moon`` → [dark red, gold].
    A modifier (``deep``, ``light``, ``pale``…) darkens or lightens the named colour."""
    low = " " + " ".join(text.lower().replace("-", " ").replace(",", " , ").split()) + " "
    for plural, single in sorted(_SINGULAR.items(), key=lambda kv: -len(kv[0])):
        low = low.replace(f" {plural} ", f" {single} ")
    names = sorted(NAMED_COLOURS, key=len, reverse=True)
    found: list[tuple[int, RGB]] = []
    taken: list[tuple[int, int]] = []
    for name in names:
        key = f" {name.replace('-', ' ')} "
        start = 0
        while (i := low.find(key, start)) >= 0:
            start = i + 1
            span = (i, i + len(key))
            if any(a < span[1] and span[0] < b for a, b in taken):
                continue
            taken.append(span)
            rgb = NAMED_COLOURS[name]
            before = low[:i].split()[-1:] if low[:i].split() else []
            if before and before[0] in _MODIFIERS and before[0] not in name:
                t = _MODIFIERS[before[0]]
                rgb = mix(rgb, WHITE if t > 0 else BLACK, abs(t))
            found.append((i, rgb))
    out: list[RGB] = []
    for _, rgb in sorted(found):
        if rgb not in out:
            out.append(rgb)
    return out


def palette_from_words(text: str) -> list[str]:
    """A palette (``#rrggbb``) for the colours ``text`` names, completed so it has a dark,
    a light and an accent colour: ``warm browns`` → a warm brown, a deep shade of it and a
    pale tint; no colour words → ``[]`` (the caller keeps its default)."""
    return complete_palette(colours_in_words(text))


def complete_palette(found: list[RGB]) -> list[str]:
    """Up to four colours completed with a deep shade and a pale tint when the colours
    themselves have no dark or no light one (``[]`` stays empty)."""
    if not found:
        return []
    cols = list(found[:4])
    by_lum = sorted(cols, key=luminance)
    if luminance(by_lum[-1]) < 0.6:
        cols.append(mix(by_lum[-1], (255, 250, 240), 0.82))
    if luminance(by_lum[0]) > 0.08:
        cols.insert(0, mix(by_lum[0], BLACK, 0.6))
    return [to_hex(c) for c in dict.fromkeys(cols)]
