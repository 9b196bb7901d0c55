"""Is a text legible where it is set? WCAG contrast against what is really behind it, how
busy that backdrop is, and the treatment that makes it read: nothing, a soft shadow, or
a backing panel.

Used by the typeset renderer for every text block and, through
:func:`generation.typeset.overlay_text`, for the text signwriter sets onto a generated
picture (the ``overlay`` render policy), where the backdrop is whatever the model drew.

* :func:`required_contrast` — 4.5:1 for small text, 3:1 for large text (WCAG 2.x AA).
  Large means :data:`~generation.palette.LARGE_TEXT_PX` px and up, stricter than WCAG's
  24 px because a marketing image is often seen scaled down.
* :func:`backdrop_contrast` — the *worst* contrast between a colour and the backdrop
  (its darkest, median and lightest few percent), so a colour that reads on the average
  but vanishes on the bright part of a busy photo fails.
* :func:`busyness` — the share of the area that is strong edges; above :data:`BUSY` the
  text gets a soft shadow even when its colour passes, because texture behind thin
  strokes hurts legibility in a way one contrast number does not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from generation.palette import (BLACK, LARGE_TEXT_PX, MIN_LARGE_TEXT_CONTRAST, MIN_TEXT_CONTRAST,
                                RGB, WHITE, contrast, luminance)

PxBox = tuple[int, int, int, int]
Treatment = Literal["none", "shadow", "panel", "button"]

BUSY = 0.06
"""Share of strong-edge pixels above which a backdrop counts as busy."""

_EDGE_LEVELS = 48.0
"""A luminance step (0–255) between neighbouring pixels that counts as a strong edge."""


@dataclass(frozen=True)
class Legibility:
    """How one text block reads where it was set (reported in image metadata)."""

    contrast: float
    """The worst WCAG contrast between the text colour and what is directly behind it
    (the panel or button when there is one)."""
    required: float
    busy: float
    treatment: Treatment

    @property
    def ok(self) -> bool:
        return self.contrast + 1e-9 >= self.required

    def as_dict(self) -> dict[str, object]:
        return {"contrast": round(self.contrast, 2), "required": self.required,
                "busy": round(self.busy, 3), "treatment": self.treatment}


def required_contrast(size_px: float) -> float:
    """WCAG AA: 3:1 for large text, 4.5:1 otherwise."""
    return MIN_LARGE_TEXT_CONTRAST if size_px >= LARGE_TEXT_PX else MIN_TEXT_CONTRAST


def backdrop(img: Image.Image, box: PxBox) -> list[tuple[float, float, float]]:
    """Representative colours behind ``box``: darkest, median and lightest few percent."""
    arr = np.asarray(img.crop(box).convert("RGB"), np.float32).reshape(-1, 3)
    if arr.size == 0:
        return [(128.0, 128.0, 128.0)]
    lum = arr @ np.asarray([0.2126, 0.7152, 0.0722], np.float32)
    order = np.argsort(lum, kind="stable")
    picks = [order[int(q * (len(order) - 1))] for q in (0.03, 0.5, 0.97)]
    return [(float(arr[i][0]), float(arr[i][1]), float(arr[i][2])) for i in picks]


def backdrop_contrast(colour: RGB, colours: list[tuple[float, float, float]]) -> float:
    """The worst contrast between ``colour`` and each backdrop colour."""
    return min(contrast(colour, b) for b in colours)


def busyness(img: Image.Image, box: PxBox) -> float:
    """Share of pixels in ``box`` on a strong luminance edge (0 = flat, ~0.3 = very busy)."""
    grey = np.asarray(img.crop(box).convert("L"), np.float32)
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    dx = np.abs(np.diff(grey, axis=1))[:-1, :]
    dy = np.abs(np.diff(grey, axis=0))[:, :-1]
    return float(((dx > _EDGE_LEVELS) | (dy > _EDGE_LEVELS)).mean())


def halo_colour(text: RGB) -> RGB:
    """The shadow behind light text is dark, behind dark text light."""
    return BLACK if luminance(text) > 0.4 else WHITE


def draw_shadow(img: Image.Image, mask: Image.Image, colour: RGB, size_px: int) -> None:
    """A soft halo of ``colour`` around the glyphs in ``mask`` (an L image of ``img``'s
    size, 255 where text will be drawn), composited onto ``img`` in place."""
    grow = max(3, (size_px // 14) | 1)
    halo = mask.filter(ImageFilter.MaxFilter(grow)).filter(
        ImageFilter.GaussianBlur(max(1.5, size_px / 14)))
    halo = halo.point(lambda v: min(255, int(v * 0.85)))
    img.paste(Image.new("RGB", img.size, colour), (0, 0), halo)


def text_mask(size: tuple[int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    mask = Image.new("L", size, 0)
    return mask, ImageDraw.Draw(mask)
