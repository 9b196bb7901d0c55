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
