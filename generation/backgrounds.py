"""Everything the typeset renderer draws behind the text when the brief brings no picture:
backgrounds and image placeholders (the brief's own images: :mod:`generation.images`).

A background is read from the layout's ``background`` words (``dark``/``light``, ``warm``/
``cool``, ``radial``, ``solid``, ``circles``, ``dots``, ``stripes``, ``waves``,
``geometric``, ``grain``…) and coloured from its palette; whatever the words leave open
(angles, blob positions, shape sizes) is drawn from the seeded ``random.Random`` so one seed
always gives the same picture and another seed a different one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from generation.palette import RGB, WHITE, Roles, luminance, mix

PxBox = tuple[int, int, int, int]
"""A box in pixels: (left, top, right, bottom)."""

_WARM: RGB = (255, 170, 90)
_COOL: RGB = (90, 150, 255)

_DARK_WORDS = {"dark", "night", "deep", "moody", "black", "midnight", "navy", "noir"}
_LIGHT_WORDS = {"light", "white", "pastel", "bright", "clean", "minimal", "airy", "paper"}
_SOLID_WORDS = {"solid", "flat", "plain"}
_RADIAL_WORDS = {"radial", "glow", "spotlight", "vignette", "burst", "sunburst"}
_GRAIN_WORDS = {"grain", "grainy", "texture", "textured", "paper", "noise", "noisy"}
_PATTERNS = {
    "circles": "circles", "bokeh": "circles", "bubbles": "circles",
    "dots": "dots", "dotted": "dots", "polka": "dots", "confetti": "confetti",
    "stripes": "stripes", "striped": "stripes", "lines": "stripes",
    "waves": "waves", "wave": "waves", "wavy": "waves",
    "geometric": "geometric", "shapes": "geometric", "abstract": "geometric",
    "triangles": "geometric", "memphis": "geometric",
}


@dataclass(frozen=True)
class Style:
    """What the background words asked for."""

    tone: str          # "dark" | "light"
    temperature: str   # "warm" | "cool" | ""
    radial: bool
    solid: bool
    grain: float       # noise amplitude in 8-bit levels
    patterns: tuple[str, ...]


def read_style(description: str, *, prefer_tone: str = "light") -> Style:
    """Interpret background words; ``prefer_tone`` decides when the words do not."""
    words = {w.strip(".,;:!()\"'").lower() for w in description.replace("-", " ").split()}
    tone = prefer_tone
    if words & _DARK_WORDS:
        tone = "dark"
    elif words & _LIGHT_WORDS:
        tone = "light"
    temperature = "warm" if words & {"warm", "sunny", "summer", "autumn", "orange"} else (
        "cool" if words & {"cool", "cold", "winter", "icy", "blue", "fresh"} else "")
    patterns = tuple(dict.fromkeys(_PATTERNS[w] for w in sorted(words) if w in _PATTERNS))
    return Style(tone=tone, temperature=temperature, radial=bool(words & _RADIAL_WORDS),
                 solid=bool(words & _SOLID_WORDS),
                 grain=6.0 if words & _GRAIN_WORDS else 2.5, patterns=patterns)


def _tones(style: Style, pal: Roles) -> tuple[RGB, RGB]:
    if style.tone == "dark":
        a, b = pal.dark, mix(pal.dark, pal.accent, 0.45)
    else:
        a, b = mix(pal.light, WHITE, 0.35), mix(pal.light, pal.accent, 0.22)
    if style.temperature == "warm":
        a, b = mix(a, _WARM, 0.10), mix(b, _WARM, 0.18)
    elif style.temperature == "cool":
        a, b = mix(a, _COOL, 0.08), mix(b, _COOL, 0.15)
    return a, b


def paint_background(width: int, height: int, description: str, pal: Roles,
                     rng: random.Random, *, prefer_tone: str = "light") -> Image.Image:
    """A ``width``×``height`` RGB background: gradient, soft shapes, pattern and grain."""
    style = read_style(description, prefer_tone=prefer_tone)
    c0, c1 = _tones(style, pal)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if style.solid:
        t = np.zeros((height, width), np.float32)
    elif style.radial:
        cx, cy = width * rng.uniform(0.3, 0.7), height * rng.uniform(0.2, 0.5)
        t = np.hypot(xs - cx, ys - cy) / math.hypot(width, height) * 1.6
    else:
        angle = math.radians(rng.uniform(55, 125))
        proj = xs * math.cos(angle) + ys * math.sin(angle)
        t = (proj - proj.min()) / max(float(proj.max() - proj.min()), 1.0)
    t = np.clip(t, 0, 1)[..., None]
    arr = np.asarray(c0, np.float32) * (1 - t) + np.asarray(c1, np.float32) * t
    img = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")

    if not style.solid:
        _soft_blobs(img, pal, style, rng)
    for pattern in style.patterns:
        _PATTERN_PAINTERS[pattern](img, pal, style, rng)

    noise = np.random.default_rng(rng.getrandbits(63)).normal(
        0, style.grain, (height, width, 1)).astype(np.float32)
    out = np.asarray(img, np.float32) + noise
    return Image.fromarray(out.clip(0, 255).astype(np.uint8), "RGB")


def _overlay(img: Image.Image, layer: Image.Image) -> None:
    """Composite an RGBA layer (any size, stretched to fit) over ``img`` in place."""
    if layer.size != img.size:
        layer = layer.resize(img.size, Image.Resampling.BILINEAR)
    img.paste(Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB"))


def _blur(layer: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur of an RGBA layer in premultiplied alpha (no dark fringes)."""
    return layer.convert("RGBa").filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")


def _soft_blobs(img: Image.Image, pal: Roles, style: Style, rng: random.Random) -> None:
    """Two or three large, heavily blurred colour fields — the designer's 'soft light'."""
    w, h = img.size
    sw, sh = max(w // 8, 1), max(h // 8, 1)
    layer = Image.new("RGBA", (sw, sh), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    colours = [pal.accent, *pal.colours]
    for _ in range(rng.randint(2, 3)):
        r = rng.uniform(0.25, 0.45) * max(sw, sh)
        cx, cy = rng.uniform(-0.1, 1.1) * sw, rng.choice([rng.uniform(-0.1, 0.3),
                                                          rng.uniform(0.7, 1.1)]) * sh
        col = rng.choice(colours)
        if style.tone == "light":
            col = mix(col, WHITE, 0.2)
        alpha = int(rng.uniform(0.22, 0.38) * 255)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*col, alpha))
    _overlay(img, _blur(layer, max(sw, sh) / 9))


def _circles(img: Image.Image, pal: Roles, style: Style, rng: random.Random) -> None:
    w, h = img.size
    sw, sh = max(w // 4, 1), max(h // 4, 1)
    layer = Image.new("RGBA", (sw, sh), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(7, 12)):
        r = rng.uniform(0.05, 0.12) * max(sw, sh)
        cx, cy = rng.uniform(0, sw), rng.uniform(0, sh)
        col = mix(rng.choice(pal.colours), WHITE, 0.5 if style.tone == "light" else 0.1)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*col, rng.randint(35, 65)))
    # large and soft: a crisp small disc would read as an "O" to OCR
    _overlay(img, _blur(layer, max(sw, sh) * 0.012))


def _dots(img: Image.Image, pal: Roles, style: Style, rng: random.Random) -> None:
    w, h = img.size
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    step = int(min(w, h) * rng.uniform(0.035, 0.05))
    r = max(2, step // 7)
    col = pal.accent if style.tone == "light" else mix(pal.accent, WHITE, 0.4)
    # a dot field in one corner, fading out: a common draft motif
    corner_x, corner_y = rng.choice([(0, 0), (w, 0), (0, h), (w, h)])
    reach = min(w, h) * 0.45
    for y in range(step // 2, h, step):
        for x in range(step // 2, w, step):
            d = math.hypot(x - corner_x, y - corner_y)
            if d < reach:
                draw.ellipse((x - r, y - r, x + r, y + r),
                             fill=(*col, int(55 * (1 - d / reach))))
    _overlay(img, _blur(layer, r * 0.6))  # soft halftone: crisp dots read as 中/O


def _confetti(img: Image.Image, pal: Roles, style: Style, rng: random.Random) -> None:
    w, h = img.size
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(30, 50)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        s = min(w, h) * rng.uniform(0.008, 0.016)
        a = rng.uniform(0, math.pi)
        n = rng.choice([3, 4])  # squat pieces: thin slivers read as "1" or "l" to OCR
        pts = [(x + s * math.cos(a + 2 * math.pi * k / n),
                y + s * math.sin(a + 2 * math.pi * k / n)) for k in range(n)]
        draw.polygon(pts, fill=(*rng.choice(pal.colours), 80))
    _overlay(img, _blur(layer, min(w, h) * 0.004))


def _stripes(img: Image.Image, pal: Roles, style: Style, rng: random.Random) -> None:
    w, h = img.size
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    step = int(max(w, h) * rng.uniform(0.05, 0.08))
    col = mix(pal.accent, WHITE, 0.3) if style.tone == "dark" else pal.accent
    for k in range(-h, w + h, step):
        draw.polygon([(k, 0), (k + step // 3, 0), (k + step // 3 - h, h), (k - h, h)],
                     fill=(*col, 18))
    _overlay(img, layer)


def _waves(img: Image.Image, pal: Roles, style: Style, rng: random.Random) -> None:
    w, h = img.size
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for band in range(3):
        base = h * (0.80 + 0.06 * band)
        amp = h * rng.uniform(0.015, 0.035)
        freq = rng.uniform(1.0, 2.2) * 2 * math.pi / w
        phase = rng.uniform(0, 2 * math.pi)
        pts = [(x, base + amp * math.sin(freq * x + phase)) for x in range(0, w + 8, 8)]
        col = mix(pal.accent, WHITE, 0.25 * band) if style.tone == "light" else mix(
            pal.accent, pal.dark, 0.25 * band)
        draw.polygon([*pts, (w, h), (0, h)], fill=(*col, 60 + 25 * band))
    _overlay(img, layer)


def _geometric(img: Image.Image, pal: Roles, style: Style, rng: random.Random) -> None:
    w, h = img.size
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(4, 7)):
        cx, cy = rng.choice([rng.uniform(0, 0.2), rng.uniform(0.8, 1)]) * w, rng.uniform(0, h)
        s = min(w, h) * rng.uniform(0.05, 0.14)
        # filled polygons only: outlines (rings, frames) read as letters to OCR
        n = rng.choice([3, 4, 6])
        col = (*rng.choice(pal.colours), rng.randint(40, 80))
        a = rng.uniform(0, 2 * math.pi)
        draw.polygon([(cx + s * math.cos(a + 2 * math.pi * k / n),
                       cy + s * math.sin(a + 2 * math.pi * k / n)) for k in range(n)], fill=col)
    _overlay(img, _blur(layer, min(w, h) * 0.003))


_PATTERN_PAINTERS = {
    "circles": _circles, "dots": _dots, "confetti": _confetti, "stripes": _stripes,
    "waves": _waves, "geometric": _geometric,
}


def paint_placeholder(img: Image.Image, box: PxBox, pal: Roles, rng: random.Random, *,
                      tone: str = "light") -> None:
    """An image area as a designer's placeholder: a soft card with a simple landscape."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    if bw < 4 or bh < 4:
        return
    radius = int(min(bw, bh) * 0.06)
    # drop shadow
    pad = max(8, int(min(bw, bh) * 0.08))
    shadow = Image.new("L", (bw + 2 * pad, bh + 2 * pad), 0)
    ImageDraw.Draw(shadow).rounded_rectangle((pad, pad + pad // 3, pad + bw, pad + bh + pad // 3),
                                             radius, fill=70)
    shadow = shadow.filter(ImageFilter.GaussianBlur(pad / 2.5))
    dark = Image.new("RGB", shadow.size, mix(pal.dark, (0, 0, 0), 0.5))
    img.paste(dark, (x0 - pad, y0 - pad), shadow)

    # the card: a gradient in tints of the accent colour
    if tone == "light":
        top, bottom = mix(pal.accent, WHITE, 0.55), mix(pal.accent, WHITE, 0.25)
    else:
        top, bottom = mix(pal.accent, WHITE, 0.25), mix(pal.accent, pal.dark, 0.35)
    t = np.linspace(0, 1, bh, dtype=np.float32)[:, None, None]
    card = (np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t)
    card_img = Image.fromarray(np.repeat(card, bw, axis=1).astype(np.uint8), "RGB")
    # a soft sun glow: blurred, so OCR never takes it for an "O"
    r = min(bw, bh) * rng.uniform(0.09, 0.14)
    sx, sy = bw * rng.uniform(0.6, 0.82), bh * rng.uniform(0.2, 0.35)
    sun = mix(WHITE, pal.light, 0.3)
    glow = Image.new("RGBA", (bw, bh), (0, 0, 0, 0))
    ImageDraw.Draw(glow).ellipse((sx - r, sy - r, sx + r, sy + r), fill=(*sun, 190))
    card_img = Image.alpha_composite(card_img.convert("RGBA"),
                                     _blur(glow, r * 0.45)).convert("RGB")
    draw = ImageDraw.Draw(card_img, "RGBA")
    # two mountain ridges
    for k, (shade, alpha) in enumerate(((0.35, 150), (0.6, 200))):
        peak_x = bw * rng.uniform(0.2, 0.75)
        peak_y = bh * rng.uniform(0.35, 0.55) + k * bh * 0.1
        col = mix(pal.accent, pal.dark, shade)
        draw.polygon([(-bw * 0.1, bh), (peak_x, peak_y), (bw * 1.1, bh)], fill=(*col, alpha))
    mask = Image.new("L", (bw, bh), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, bw - 1, bh - 1), radius, fill=255)
    img.paste(card_img, (x0, y0), mask)


def tone_for_text(colours: list[RGB]) -> str:
    """The background tone that suits the text colours: dark text wants a light ground."""
    if not colours:
        return "light"
    dark_text = sum(1 for c in colours if luminance(c) < 0.35)
    return "light" if dark_text * 2 >= len(colours) else "dark"
