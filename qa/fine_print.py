"""Fine print: legal-size glyphs compared in grey levels, with templates drawn at their scale.

:func:`qa.lookalike.compare` compares a glyph's thresholded ink with templates drawn at
96 px. That works from body size up; in legal-size type (lines under
:data:`qa.lookalike.SMALL_LINE_PX`, a glyph 9–14 px high) blur, JPEG and the pixel grid
change the thresholded shape more than a look-alike does. A correct ``0`` of blurred
13 px type scores down to 0.3 below ``O`` there, so only a clearer difference can fail a
glyph (:data:`qa.lookalike.CLEAR_MARGIN_SMALL`). On rendered legal lines in 15 faces (the
probe below), an ``O`` or ``D`` drawn for a ``0`` passed in 28 of 75 lines, and an ``l``
or ``I`` drawn for a ``1`` in 22 of 74.

Here the glyph is compared as it was drawn:

* **the glyph**: its grey levels around its ink, scaled from background (0) to ink (1)
  (:func:`inkness`), and masked to its own ink grown by a few pixels, so a neighbour's
  strokes do not count;
* **the templates**: each candidate character of each reference face is drawn as high as
  the glyph's ink, area-averaged as a rasteriser does, and blurred as the image was
  (:data:`SIGMAS`, in the image's own pixels, scaled as the crop was upscaled);
* **the score**: the best normalised cross-correlation of glyph and template over small
  shifts; per face, the best blur. As in :func:`qa.lookalike.compare`, the
  :data:`~qa.lookalike.TOP_FACES` faces that explain the glyph best decide.

What it is for (measured: :data:`qa.lookalike.FINE_MARGIN`): evidence
*against* a legal-size ``0`` whose look-alike fits clearly better. It does not
resolve a serif ``l`` from a ``1`` (their scores differ by less than 0.03 at 12–18 px in
Times-like faces), nor an ``O`` of a narrow face, which fits the reference faces' ``0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIGMAS: tuple[float, ...] = (0.45, 0.75, 1.05)
"""The blurs a template is drawn with (Gaussian σ in the image's pixels): a rasteriser's
own softness (about 0.3 px) plus the blur of a generator's output or of resampling (the
look-alike sets draw with σ 0.3–0.8, then JPEG). Each candidate takes its best."""

_DRAW_PX = 200


@lru_cache(maxsize=512)
def _drawn(ch: str, path: str, face: int) -> np.ndarray | None:
    """``ch`` drawn large in a face, cut to its ink (levels 0–1); None without ink."""
    font = ImageFont.truetype(path, _DRAW_PX, index=face)
    img = Image.new("L", (3 * _DRAW_PX, 3 * _DRAW_PX), 0)
    ImageDraw.Draw(img).text((_DRAW_PX // 2, _DRAW_PX // 2), ch, font=font, fill=255)
    a = np.asarray(img, np.float32) / 255.0
    ys, xs = np.nonzero(a > 0.5)
    if len(ys) < 4:
        return None
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


@lru_cache(maxsize=8192)
def template(ch: str, path: str, face: int, height: int, sigma: float) -> np.ndarray | None:
    """``ch`` in a face, its ink ``height`` pixels high, blurred by ``sigma`` (pixels at that
    scale): ink levels 0–1 with a margin of blur around it; None when the face draws no ink
    for it."""
    a = _drawn(ch, path, face)
    if a is None:
        return None
    h, w = a.shape
    width = max(1, round(w * height / h))
    small = cv2.resize(a, (width, height), interpolation=cv2.INTER_AREA)
    pad = math.ceil(3 * sigma) + 2
    return cv2.GaussianBlur(np.pad(small, pad), (0, 0), sigma)


def inkness(gray: np.ndarray, ink: np.ndarray, at: tuple[int, int]) -> np.ndarray | None:
    """The glyph whose thresholded ``ink`` lies at ``at`` (row, column of its top left) in
    ``gray``, as ink levels: 0 at the background's median grey (of the pixels nearer it than
    the ink: not a neighbour's strokes), 1 at the ink's, with a
    margin of a third of its height; pixels further than a few pixels from its own ink are
    0 (a neighbour's strokes). None when ink and background do not differ."""
    h, w = ink.shape
    r, c = at
    pad = max(3, round(0.35 * h))
    rows, cols = gray.shape
    r0, c0, r1, c1 = r - pad, c - pad, r + h + pad, c + w + pad
    sr0, sc0, sr1, sc1 = max(0, r0), max(0, c0), min(rows, r1), min(cols, c1)
    own = np.zeros((r1 - r0, c1 - c0), np.uint8)
    own[pad:pad + h, pad:pad + w] = ink
    g = gray[sr0:sr1, sc0:sc1].astype(np.float32)
    m = own[sr0 - r0:sr1 - r0, sc0 - c0:sc1 - c0].astype(bool)
    if not m.any() or m.all():
        return None
    fg, bg = float(np.median(g[m])), float(np.median(g[~m]))
    rest = g[~m]
    rest = rest[np.abs(rest - bg) < np.abs(rest - fg)]  # not a neighbour's ink
    if rest.size:
        bg = float(np.median(rest))
    if abs(fg - bg) < 1.0:
        return None
    out = np.zeros(own.shape, np.float32)
    out[sr0 - r0:sr1 - r0, sc0 - c0:sc1 - c0] = np.clip((g - bg) / (fg - bg), 0.0, 1.0)
    k = max(3, round(0.15 * h) | 1)
    return out * cv2.dilate(own, np.ones((k, k), np.uint8))


def _match(glyph: np.ndarray, tmpl: np.ndarray) -> float:
    if tmpl.shape[0] > glyph.shape[0] or tmpl.shape[1] > glyph.shape[1]:
        dh = max(0, tmpl.shape[0] - glyph.shape[0]) // 2 + 2
        dw = max(0, tmpl.shape[1] - glyph.shape[1]) // 2 + 2
        glyph = np.pad(glyph, ((dh, dh), (dw, dw)))
    return float(cv2.matchTemplate(glyph, tmpl, cv2.TM_CCOEFF_NORMED).max())


def scores(gray: np.ndarray, ink: np.ndarray, at: tuple[int, int], scale: float,
           candidates: tuple[str, ...], faces: Iterable[tuple[str, int]],
           has_glyph: Callable[[str, str, int], bool], top: int = 2) -> dict[str, float] | None:
    """How well each of ``candidates`` explains the glyph (see the module docstring): the
    mean over the ``top`` faces that explain it best of each candidate's best correlation
    (−1..1, higher is better). ``gray``: the crop the glyph was found on, upscaled ``scale``
    times from the image; ``faces``: (font file, face index); ``has_glyph(ch, path, face)``:
    whether a face draws ``ch``. None when the glyph has no contrast or no face draws every
    candidate."""
    glyph = inkness(gray, ink, at)
    if glyph is None:
        return None
    height = int(ink.shape[0])
    per_face: list[dict[str, float]] = []
    for path, face in faces:
        if not all(has_glyph(ch, path, face) for ch in candidates):
            continue
        got: dict[str, float] = {}
        for ch in candidates:
            fits = [_match(glyph, t) for s in SIGMAS
                    if (t := template(ch, path, face, height, round(s * scale, 2))) is not None]
            if fits:
                got[ch] = max(fits)
        if len(got) == len(candidates):
            per_face.append(got)
    if not per_face:
        return None
    per_face.sort(key=lambda s: max(s.values()), reverse=True)
    best = per_face[:top]
    return {ch: sum(s[ch] for s in best) / len(best) for ch in candidates}
