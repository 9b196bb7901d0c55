"""Look-alike glyphs: a wrong character that resembles the right one never passes.

The judge (PP-OCR) reads a line with a language prior: a round capital ``O`` inside a
price reads as the digit (``$1O9`` → ``$109``), ``曰`` in a date as ``日``, ``干`` as
``千``. An exact read is therefore no proof for a character that has a look-alike. For
every such character of an expected text (:data:`CJK_GROUPS`, :data:`DIGIT_LOOKALIKES`,
:data:`LETTER_LOOKALIKES`; see :func:`suspects`) the glyph itself is checked, without the
line's context, and the region passes only on positive evidence for each of them:

1. **locate** — the region is read again with a box per character (rapidocr's CTC
   positions); the glyph is the ink under that character's box: the connected components
   nearest its centre and of its colour, cut to its columns where blur joined it to a
   neighbour. A :data:`PRIOR_BOUND` character that cannot be located fails the region;
   any other stands on the judge's sure read of the region.
2. **shape** — the glyph's ink is compared with the expected character and each of its
   look-alikes rendered in reference faces (:data:`REFERENCE_FACES`: DejaVu, Liberation
   and FreeFont Latin faces, Noto Sans/Serif CJK; regular and bold), size-normalised, by
   correlation of the blurred ink minus a penalty on a different aspect ratio; the
   :data:`TOP_FACES` faces that explain the glyph best decide.
3. **context-free read** — the glyph's ink alone, dark on white, is read again (for all
   but ``0 1 O D l I``: the recogniser reads a lone round ``O`` as ``0``); reading one of
   its look-alikes is evidence against.

How the evidence combines (measured on the look-alike set and the synthetic set, see
``signwriter bench qa --set lookalike``): a :data:`PRIOR_BOUND` character (``0 1 O D l I
日 曰``, which the judge reads by its prior with full confidence) fails when its prior
twin (:data:`PRIOR_PAIRS`) fits its shape better by :data:`CLEAR_MARGIN`
(:data:`CLEAR_MARGIN_SMALL` at legal size); any suspect fails when it is read as a
look-alike on its own and its shape does not clearly say otherwise
(:data:`MARGIN`) — if the judge read it surely in its line, only when its shape clearly
agrees with the look-alike (:data:`CLEAR_MARGIN`) — or when the judge is not sure of it (:data:`SURE_READ`) and neither its
shape nor its context-free read confirms it. Three more pieces of evidence:

* a ``1`` drawn as one stem with a flag and a plain foot (:func:`flagged_stem`: Helvetica,
  Futura and their clones) is a ``1`` whatever the reference faces, whose ``1`` has a foot
  bar, say; an ``l`` or ``I`` drawn so is taken for a ``1``;
* in legal-size type, where that flag is one blurred pixel (URW Gothic, Nimbus Sans at
  11–13 px), a ``1`` read surely is verified by the flag measured on the glyph's grey
  levels rather than its thresholded ink (:func:`faint_flag`: extra ink at the stem's top
  left that is not a lean, and a plain foot; :data:`FAINT_MAX_GAP`); no ``l`` or ``I`` measured so
  in 24 faces, plain or on the hard set's textures;
* a legal-size ``0`` is compared again in grey levels, with templates drawn at its own
  height and blur (:mod:`qa.fine_print`), and fails when ``O`` or ``D`` fits it clearly
  better there (:data:`FINE_MARGIN`);
* a small CJK glyph (legal size) that a reference face explains well and whose look-alike
  fits better fails even on a sure read (:data:`SMALL_CJK_MARGIN`): at that size the
  recogniser reads by its prior, in the line and alone;
* in a line with Hangul the glyphs are located by the Korean judge's own character boxes
  (:meth:`qa.ocr.HangulEngine.read_glyphs`); an ink no candidate explains there was not
  located (:data:`FIT_FLOOR`).

Known limits (measured, ``tests/qa/test_lookalike.py`` and the sets): a serif ``l`` for
``1`` at legal size; ``l`` for ``1`` in monospaced faces whose ``l`` has a flag; a correct
legal-size ``1`` in a face whose ``1`` has no foot (URW Gothic, Nimbus Sans at 11–13 px)
whose flag :func:`faint_flag` does not resolve (about a third of them, and most of URW Gothic
Demi's) is taken for an ``l`` — a false reject, never a pass.

In faces unlike the reference faces, drawn as a generator draws them (rotated, blurred,
JPEG: ``bench qa --set lookalike-hard``), the shapes of legal-size type carry too little
to decide: on probe lines in 24 faces at 12–18 px (tuning data), where the judge read the
line as the intended number, an ``O`` drawn for ``0`` passed in 54 of 98 lines, an ``l``
for ``1`` in 20 of 42, an ``I`` for ``1`` in 8 of 22 (while 3 of 118 correct ``0`` and 4 of
72 correct ``1`` failed; :data:`FINE_MARGIN` now catches about half of such ``O``, not a
narrow face's); from body size up, a serif ``l`` for ``1``
scoring under :data:`PAIR_MARGIN` below ``1`` passes (see there), and small or body CJK in
WenQuanYi Zen Hei or AR PL UMing is verified no better than chance (``夭天特价`` passes
while ``天天特价`` fails). tesseract is no second opinion here: dictionaries off, it read
the letter in 7 of 103 probe lines where an ``O``, ``l`` or ``I`` was drawn for a digit,
the intended digit in the rest.

Two-letter confusions (``rn``/``m``, ``vv``/``w``, ``cl``/``d``) are not verified here:
the judge reads them letter by letter (tested), so a wrong one already fails on the read.
Characters drawn identically in common faces (I/l, ー/一 …) are not look-alikes but
:mod:`qa.glyphs`' identical glyphs.
"""

from __future__ import annotations

import math
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from qa import fine_print
from qa.normalize import is_cjk

# -- the table ---------------------------------------------------------------------------------

CJK_GROUPS: tuple[str, ...] = tuple("""
日曰 日目 未末 末朱 己已巳 人入八 土士 千干于 王玉主 大太犬丈 戊戌戍 天夭夫 刀力 田由甲申
白自 午牛 今令 贝见 开井 木本术 问间 候侯 拨拔 免兔 乌鸟 兵乒乓 折拆析 冶治 汩汨 壁璧 亨享
晴睛 待侍 住往 历厉 准淮 使便 持特 季李 夏复 全金 元无 买卖 快块 业亚 两丙 场扬 为办
周同 上止 冬各 乐东 费贵 秒妙 动劝 价份 限很 送选 荣劳 赢嬴 幕慕 找戎 撤撒 候猴 崇祟
尤龙 己乙 末未 设没 胶校 洒酒 问向 壶壸 宫官 冰水 太犬 万方 区匹 巾币 舌吉 困因 圆园
シツ ソン ノメ ウワ クケ タダ ハバパ ヘベペ ぬめ われね はほ るろ さち いり
""".split())
"""Groups of characters that differ by a stroke, a dot or a proportion: each member is a
look-alike of every other member of its group (a character may be in several groups).
Simplified and Traditional variants of one character are not here (see
:func:`qa.normalize.traditional_chars`), nor kana against a kanji drawn the same
(カ/力, エ/工): those are identical glyphs, a matter for :mod:`qa.glyphs`."""

DIGIT_LOOKALIKES: dict[str, str] = {
    "0": "OD", "1": "lI", "2": "Z", "5": "S", "6": "Gb", "8": "B", "9": "g",
}
"""A digit and the letters drawn like it: any digit of an expected text is checked (a
letter for a digit inside a number, price, date or code)."""

LETTER_LOOKALIKES: dict[str, str] = {
    "O": "0", "D": "0", "l": "1", "I": "1", "Z": "2", "S": "5", "G": "6", "b": "6", "B": "8",
    "g": "9",
}
"""A letter and the digit drawn like it: checked inside a code, a token that mixes
letters and digits (``B52O``, ``A1-0S``)."""

MARGIN = 0.03
"""How much better (shape score, see :func:`shape_score`) the expected character must fit
the glyph than its best look-alike, in the reference faces that fit the glyph best, to be
verified by its shape alone. Below that, the glyph is verified only by a sure read: the
recogniser's confidence in that character at least :data:`SURE_READ`, and (CJK, kana) the
glyph read on its own as itself."""

CLEAR_MARGIN = 0.1
"""For :data:`PRIOR_BOUND` characters, a look-alike that fits the glyph better by more than
this fails it whatever was read. Measured on clean renders in eleven faces: a round ``O``
for ``0`` scores 0.40–1.1 below, ``曰`` for ``日`` 0.35–0.8 below, a serif ``l`` for ``1``
0.23–0.31 below; the correct characters score 0.0–1.0 above."""

CLEAR_MARGIN_SMALL = 0.3
"""The same for text on lines under :data:`SMALL_LINE_PX` (legal size), where blur and
compression blunt shapes: correct ``0`` and ``日`` in blurred 13–16 px type score down to
0.28 below their look-alike. (Cost: a serif ``l`` for ``1`` at legal size, 0.23–0.31
below, is not caught; in sans faces it scores 0.45–1.2 below and is.)"""

SMALL_LINE_PX = 32
"""Lines lower than this in the image (rapidocr line boxes, about twice the type size)
hold legal-size text (measured: 13–16 px legal type gives 28–29 px line boxes; 26 px
body type 34 px)."""

PRIOR_PAIRS: dict[str, str] = {"0": "OD", "1": "lI", "O": "0", "D": "0", "l": "1", "I": "1",
                                "日": "曰", "曰": "日"}

PAIR_MARGIN: dict[str, float] = {"0": 0.35, "O": 0.35, "D": 0.35, "1": 0.22, "l": 0.22,
                                 "I": 0.22}
"""Per-character :data:`CLEAR_MARGIN` where faces disagree most: geometric faces (URW
Gothic) draw ``0`` nearly round, so a correct ``0`` scores up to 0.3 below ``O`` or ``D``
there, while a round capital ``O`` for ``0`` scores 0.40–1.1 below in the reference faces;
a correct ``1`` in small serif type scores up to 0.21 below ``l``, a serif ``l`` for ``1``
0.23–0.31 below (measured on ``bench qa --set hard --seed 4``, which is therefore not a
held-out figure). A serif ``l`` or ``I`` drawn for ``1`` from body size up scores 0.05–0.2
below ``1`` (C059, P052, FreeSerif, DejaVu Serif, URW Bookman at 20–96 px, rotated ±2°,
blurred, JPEG), and a correct ``1`` of a Times-like face as low as 0.26 below (FreeSerif's
``123`` at 40 px, which fails; Nimbus Roman's ``$19.99`` at 40 px 0.18 below): the two
overlap, so such an ``l`` can pass (known limit; a margin of 0.15 from body size up caught
four more of 24 such ``l``/``I`` and failed correct ``1`` of both faces)."""
PRIOR_BOUND = frozenset(PRIOR_PAIRS)
"""Characters the judge reads by its language prior, with full confidence, whatever the
glyph: a round ``O`` or a ``D`` inside a number reads ``0``, an ``l`` or ``I`` reads ``1``
(and the other way round in codes), ``曰`` reads ``日`` in a date. Their shape alone decides. For every other suspect
(``5``/``S``, ``8``/``B``, ``日``/``曰`` …) the judge's per-character confidence is
evidence too: it reads ``1S9`` and ``2B5`` as drawn, and reads ``曰`` as ``日`` or ``干`` as
``千`` only with a confidence below :data:`SURE_READ`."""

SURE_READ = 0.97
"""Per-character recogniser confidence that counts as a sure read (the judge reads ``曰``
as ``日`` at 0.66–0.82 and ``干`` as ``千`` at 0.74–0.94)."""

TOP_FACES = 2
"""How many best-fitting reference faces decide (their scores are averaged)."""

ASPECT_WEIGHT = 0.6
"""Penalty per unit of |log(aspect ratio)| difference between glyph and template: what
tells ``0`` (narrow) from ``O`` (round), and ``日`` (tall) from ``曰`` (wide)."""

GLYPH_PX = 40
"""Glyphs are located on a crop upscaled so a line is about this high."""

_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
REFERENCE_FACES: tuple[tuple[str, int], ...] = (
    ("DejaVuSans.ttf", 0), ("DejaVuSans-Bold.ttf", 0), ("DejaVuSerif.ttf", 0),
    ("DejaVuSerif-Bold.ttf", 0), ("DejaVuSansCondensed-Bold.ttf", 0),
    ("LiberationSans-Regular.ttf", 0), ("LiberationSans-Bold.ttf", 0),
    ("LiberationSerif-Regular.ttf", 0), ("LiberationSerif-Bold.ttf", 0),
    ("FreeSans.ttf", 0), ("FreeSerif.ttf", 0),
    ("NotoSansCJK-Regular.ttc", 2), ("NotoSansCJK-Bold.ttc", 2),
    ("NotoSerifCJK-Regular.ttc", 2), ("NotoSerifCJK-Bold.ttc", 2),
)
"""(font file, face index) of the faces glyphs are compared with (Noto CJK's face 2 is
Simplified Chinese; they carry kana and Latin too): Debian's fonts-dejavu, fonts-liberation2,
fonts-freefont-ttf and fonts-noto-cjk. The faces found on this machine are
used; with none, look-alikes cannot be verified and a suspect region fails."""


@dataclass(frozen=True)
class Suspect:
    """A character of an expected text that has look-alikes."""

    index: int
    char: str
    alts: tuple[str, ...]


@dataclass(frozen=True)
class Doubt:
    """A suspect character without positive evidence: why, and the look-alike the glyph
    resembles (when one does)."""

    index: int
    char: str
    reason: str
    likely: str | None = None

    def describe(self) -> str:
        if self.likely:
            return f"{self.char!r} (char {self.index + 1}) looks like {self.likely!r}: {self.reason}"
        return f"{self.char!r} (char {self.index + 1}) not verified: {self.reason}"


def _cjk_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    for group in CJK_GROUPS:
        for ch in group:
            alts = table.setdefault(ch, [])
            alts.extend(o for o in group if o != ch and o not in alts)
    return {k: tuple(v) for k, v in table.items()}


CJK_LOOKALIKES: dict[str, tuple[str, ...]] = _cjk_table()


def lookalikes_of(ch: str) -> tuple[str, ...]:
    """Every look-alike of ``ch`` in the tables (whatever its context)."""
    return (CJK_LOOKALIKES.get(ch, ()) + tuple(DIGIT_LOOKALIKES.get(ch, ""))
            + tuple(LETTER_LOOKALIKES.get(ch, "")))


def _span(text: str, i: int, inside) -> range:
    """The indices of the run of characters around ``text[i]`` for which ``inside`` holds."""
    lo = i
    while lo > 0 and inside(text[lo - 1]):
        lo -= 1
    hi = i
    while hi < len(text) - 1 and inside(text[hi + 1]):
        hi += 1
    return range(lo, hi + 1)


def _code_char(ch: str) -> bool:
    return (ch.isalnum() or ch in ".,:/-") and not is_cjk(ch)


def _token_has_digit(text: str, i: int) -> bool:
    """Whether the code-like token around ``text[i]`` (letters, digits, ``.,:/-``) holds a digit."""
    return any(text[j].isdigit() for j in _span(text, i, _code_char))


def suspects(text: str) -> list[Suspect]:
    """The characters of ``text`` that must be verified glyph by glyph: every CJK character
    or kana with a look-alike, every digit, and the digit-like letters of a code."""
    out: list[Suspect] = []
    for i, ch in enumerate(text):
        if ch in CJK_LOOKALIKES:
            out.append(Suspect(i, ch, CJK_LOOKALIKES[ch]))
        elif ch in DIGIT_LOOKALIKES:
            out.append(Suspect(i, ch, tuple(DIGIT_LOOKALIKES[ch])))
        elif ch in LETTER_LOOKALIKES and _token_has_digit(text, i):
            out.append(Suspect(i, ch, tuple(LETTER_LOOKALIKES[ch])))
    return out


# -- shapes --------------------------------------------------------------------------------------

_SIDE = 32


@lru_cache(maxsize=1)
def _faces() -> tuple[tuple[str, int], ...]:
    index: dict[str, str] = {}
    for d in _FONT_DIRS:
        if d.is_dir():
            for p in d.rglob("*"):
                if p.suffix.lower() in (".ttf", ".otf", ".ttc"):
                    index.setdefault(p.name, str(p))
    return tuple((index[name], i) for name, i in REFERENCE_FACES if name in index)


_CMAP_LOCK = threading.Lock()


def _cmap(path: str, face: int) -> frozenset[int]:
    """The code points a face has glyphs for (empty when its file cannot be read). Read
    once per process: checks running in parallel wait for the first reader instead of
    each parsing the face again (16 batch threads parsed the four CJK faces 8 times each)."""
    with _CMAP_LOCK:
        return _read_cmap(path, face)


def has_glyph(ch: str, path: str, face: int) -> bool:
    """Whether a face draws ``ch`` (its character map has it)."""
    return ord(ch) in _cmap(path, face)


@lru_cache(maxsize=32)
def _read_cmap(path: str, face: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=face, lazy=True) as font:
            # only the code points are wanted: numbered glyph names spare parsing a CFF
            # face's charset (half the time on a Noto CJK face, the same code points)
            font.setGlyphOrder([f"g{i}" for i in range(font["maxp"].numGlyphs)])
            return frozenset(font.getBestCmap() or {})
    except Exception:  # noqa: BLE001 - an unreadable font is a face without glyphs
        return frozenset()


@lru_cache(maxsize=4096)
def _template(ch: str, path: str, face: int) -> tuple[np.ndarray, float] | None:
    """``ch`` rendered in a face: (size-normalised blurred ink, aspect ratio), or None when
    the face has no glyph for it (Pillow would draw the face's .notdef box instead: the
    same box for every missing character, which would score all of them alike)."""
    if not has_glyph(ch, path, face):
        return None
    font = ImageFont.truetype(path, 96, index=face)
    try:
        if font.getmask(ch).getbbox() is None:
            return None
    except (OSError, ValueError):
        return None
    img = Image.new("L", (320, 220), 0)
    ImageDraw.Draw(img).text((40, 40), ch, font=font, fill=255)
    mask = np.asarray(img) > 127
    return _normalised(mask)


def _normalised(mask: np.ndarray) -> tuple[np.ndarray, float] | None:
    ys, xs = np.nonzero(mask)
    if len(ys) < 4:
        return None
    m = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32)
    h, w = m.shape
    side = max(h, w)
    # size-normalise without losing the aspect entirely: fit into a square, centred
    canvas = np.zeros((side, side), np.float32)
    canvas[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = m
    small = cv2.resize(canvas, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.2)
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    if norm < 1e-6:
        return None
    return small / norm, w / h


def shape_score(glyph: tuple[np.ndarray, float], template: tuple[np.ndarray, float]) -> float:
    """How well a template explains a glyph: correlation of the normalised ink minus
    :data:`ASPECT_WEIGHT` × |log aspect-ratio difference| (higher is better, ≤ 1)."""
    (g, ga), (t, ta) = glyph, template
    return float((g * t).sum()) - ASPECT_WEIGHT * abs(math.log(max(ga, 1e-3) / max(ta, 1e-3)))


def compare(glyph_mask: np.ndarray, expected: str, alts: tuple[str, ...]
            ) -> tuple[float, dict[str, float]] | None:
    """Scores of ``expected`` and each look-alike for one glyph's ink mask, in the
    :data:`TOP_FACES` reference faces that explain it best: (margin of ``expected`` over
    the best look-alike, score per candidate); None when no face has the glyphs."""
    glyph = _normalised(glyph_mask)
    if glyph is None:
        return None
    per_face: list[dict[str, float]] = []
    for path, face in _faces():
        scores: dict[str, float] = {}
        for cand in (expected,) + alts:
            t = _template(cand, path, face)
            if t is not None:
                scores[cand] = shape_score(glyph, t)
        if expected in scores and len(scores) > 1:
            per_face.append(scores)
    if not per_face:
        return None
    per_face.sort(key=lambda s: max(s.values()), reverse=True)
    top = per_face[:TOP_FACES]
    cands = [c for c in (expected,) + alts if all(c in s for s in top)]
    mean = {c: sum(s[c] for s in top) / len(top) for c in cands}
    best_alt = max(v for c, v in mean.items() if c != expected) if len(mean) > 1 else -1.0
    return mean[expected] - best_alt, mean


# -- finding the glyphs ------------------------------------------------------------------------


def ink_mask(gray: np.ndarray, rows: tuple[int, int] | None = None) -> np.ndarray:
    """Ink pixels of a grey crop (Otsu; the polarity is the one whose background, the
    crop's border, is the majority). ``rows``: judge the polarity on the border of these
    rows only (the text line's own box: the rows padded above and below it may run into a
    picture of another colour, which would turn the polarity round)."""
    g = np.ascontiguousarray(gray.astype(np.uint8))
    thr, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    b = g if rows is None or rows[1] - rows[0] < 3 else g[rows[0]:rows[1]]
    border = np.concatenate([b[0], b[-1], b[:, 0], b[:, -1]])
    light_bg = float(np.mean(border > thr)) >= 0.5
    return g <= thr if light_bg else g > thr


def glyph_ink(gray: np.ndarray, cell: tuple[int, int, int, int], line: tuple[int, int, int, int],
              cells: list[tuple[int, int, int, int]] | None = None,
              rgb: np.ndarray | None = None, max_aspect: float | None = None
              ) -> np.ndarray | None:
    """The ink of the glyph whose (approximate) box is ``cell``, within its ``line`` box:
    the connected components whose centre is nearer this cell's centre than any other
    cell's of the line (``cells``) and, given the ``rgb`` crop, whose colour is the
    glyph's own (specks of a busy background are not strokes), cropped; None when there
    is none."""
    found = glyph_ink_at(gray, cell, line, cells, rgb, max_aspect)
    return None if found is None else found[0]


def glyph_ink_at(gray: np.ndarray, cell: tuple[int, int, int, int],
                 line: tuple[int, int, int, int],
                 cells: list[tuple[int, int, int, int]] | None = None,
                 rgb: np.ndarray | None = None, max_aspect: float | None = None
                 ) -> tuple[np.ndarray, tuple[int, int]] | None:
    """:func:`glyph_ink`, with where the cropped ink lies in ``gray``: (ink, (row, column)
    of its top left corner)."""
    h, w = gray.shape
    lh = max(1, line[3] - line[1])
    cx0, cx1 = cell[0], cell[2]
    pad = int(0.35 * lh)
    x0, x1 = max(0, cx0 - pad), min(w, cx1 + pad)
    y0, y1 = max(0, line[1] - pad // 3), min(h, line[3] + pad // 3)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    window = gray[y0:y1, x0:x1]
    ink = ink_mask(window, rows=(max(0, line[1] - y0), min(y1, line[3]) - y0))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    centres = [((c[0] + c[2]) / 2 - x0) for c in (cells or [cell])]
    mine = (cx0 + cx1) / 2 - x0
    keep = np.zeros(n, bool)
    merged = False
    min_area = max(2, int(0.002 * window.size))
    core = (line[1] + 0.25 * lh - y0, line[3] - 0.25 * lh - y0)  # the line's middle rows
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        if area < min_area:
            continue
        if bh > 0.95 * (y1 - y0) and bw > 0.95 * (x1 - x0):
            continue  # a frame or background blob, not a glyph
        if (y == 0 or y + bh >= y1 - y0) and (y + bh <= core[0] or y >= core[1]):
            continue  # cut by the window's top or bottom, off the line's middle: the
            # next line's ink (tight leading), not a part of this glyph
        centre = x + bw / 2
        nearest = min(centres, key=lambda c: abs(c - centre))
        if abs(mine - centre) <= abs(nearest - centre) + 0.5 and abs(mine - centre) <= (cx1 - cx0):
            keep[k] = True
            # a stroke running through a neighbour's centre: glyphs joined by blur
            merged |= any(x < c < x + bw for c in centres if abs(c - mine) > 1)
    if not keep.any():
        # glyphs joined by blur into one component: take the ink under the cell's columns
        inside = np.zeros_like(ink)
        lo, hi = max(0, cx0 - x0), min(ink.shape[1], cx1 - x0)
        inside[:, lo:hi] = ink[:, lo:hi]
        if inside.sum() < min_area:
            return None
        ys, xs = np.nonzero(inside)
        return (inside[ys.min():ys.max() + 1, xs.min():xs.max() + 1],
                (y0 + int(ys.min()), x0 + int(xs.min())))
    if rgb is not None and keep.sum() > 1:
        keep = _same_colour(rgb[y0:y1, x0:x1], labels, stats, keep)
    mask = keep[labels]
    if merged:  # keep the cell's own columns
        p = max(1, int(0.1 * (cx1 - cx0)))
        mask[:, :max(0, cx0 - x0 - p)] = False
        mask[:, cx1 - x0 + p:] = False
        if not mask.any():
            return None
    ys, xs = np.nonzero(mask)
    gh, gw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    if max_aspect is not None and gw > max_aspect * gh:
        # wider than any candidate glyph: a neighbour touches it; keep the cell's columns
        half = max_aspect * gh / 2
        centre = mine
        mask[:, :max(0, int(centre - half))] = False
        mask[:, int(centre + half) + 1:] = False
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            return None
    return (mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1],
            (y0 + int(ys.min()), x0 + int(xs.min())))


@lru_cache(maxsize=1024)
def widest(chars: tuple[str, ...]) -> float:
    """The largest aspect ratio (width / height) of ``chars`` in the reference faces
    (remembered: each call looks at every face's template of every character)."""
    out = 0.0
    for path, face in _faces():
        for ch in chars:
            t = _template(ch, path, face)
            if t is not None:
                out = max(out, t[1])
    return out or 1.0


INK_COLOUR_DISTANCE = 60.0
"""A component whose mean colour is further than this (RGB distance) from the glyph's main
strokes is background, not part of the glyph."""


def _same_colour(window: np.ndarray, labels: np.ndarray, stats: np.ndarray, keep: np.ndarray
                 ) -> np.ndarray:
    ids = [k for k in range(len(keep)) if keep[k]]
    biggest = max(stats[k][4] for k in ids)
    main = [k for k in ids if stats[k][4] >= 0.2 * biggest]
    px = window.reshape(-1, 3).astype(np.float32)
    flat = labels.reshape(-1)
    ref = np.median(px[np.isin(flat, main)], axis=0)
    out = keep.copy()
    for k in ids:
        if k in main:
            continue
        colour = px[flat == k].mean(axis=0)
        if float(np.linalg.norm(colour - ref)) > INK_COLOUR_DISTANCE:
            out[k] = False
    return out


@dataclass(frozen=True)
class Glyph:
    """One character as read, with its box (in the crop it was read from) and its line box."""

    char: str
    confidence: float
    box: tuple[int, int, int, int]
    line: tuple[int, int, int, int]


def _vertical(line: tuple[int, int, int, int]) -> bool:
    return (line[3] - line[1]) > 1.5 * (line[2] - line[0])


def _glyphs(engine, crop: np.ndarray) -> list[Glyph]:
    out: list[Glyph] = []
    entries = engine.read_glyphs(crop)
    by_line: dict[tuple[int, int, int, int], list[int]] = {}
    for k, (_, _, _, line) in enumerate(entries):
        by_line.setdefault(line, []).append(k)
    for line, ks in by_line.items():
        if _vertical(line):  # vertical CJK: square cells down the column
            chars = [(ch, entries[k][1]) for k in ks
                     for ch in unicodedata.normalize("NFKC", entries[k][0]) if not ch.isspace()]
            n = max(1, len(chars))
            for j, (ch, conf) in enumerate(chars):
                y0 = line[1] + (line[3] - line[1]) * j // n
                y1 = line[1] + (line[3] - line[1]) * (j + 1) // n
                out.append(Glyph(ch, conf, (line[0], y0, line[2], y1), line))
    for text, conf, box, line in entries:
        if _vertical(line):
            continue
        text = unicodedata.normalize("NFKC", text)
        n = len(text)
        for k, ch in enumerate(text):  # a multi-character entry: split its box evenly
            x0 = box[0] + (box[2] - box[0]) * k // n
            x1 = box[0] + (box[2] - box[0]) * (k + 1) // n
            if not ch.isspace():
                out.append(Glyph(ch, conf, (x0, box[1], x1, box[3]), line))
    return out


def _transposed(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return box[1], box[0], box[3], box[2]


def _fold(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).casefold()


@dataclass
class _Located:
    """A region's crop (upscaled so a line is about :data:`GLYPH_PX` high), its glyphs as
    read one by one, and which glyph each expected character was aligned with (by its
    index in the expected text)."""

    crop: np.ndarray
    gray: np.ndarray
    glyphs: list[Glyph]
    where: dict[int, int]
    lh: float
    scale: float = 1.0

    def ink(self, g: Glyph, max_aspect: float | None = None) -> np.ndarray | None:
        """The ink of glyph ``g`` (see :func:`glyph_ink`); a vertical line's on the
        transposed crop."""
        if _vertical(g.line):
            t = _transposed
            ink = glyph_ink(self.gray.T, t(g.box), t(g.line),
                            [t(o.box) for o in self.glyphs if o.line == g.line],
                            self.crop.transpose(1, 0, 2))
            return None if ink is None else ink.T
        return glyph_ink(self.gray, g.box, g.line,
                         [o.box for o in self.glyphs if o.line == g.line], self.crop,
                         max_aspect=max_aspect)

    def ink_at(self, g: Glyph, max_aspect: float | None = None
               ) -> tuple[np.ndarray, tuple[int, int]] | None:
        """:meth:`ink` with the top left corner of the ink in :attr:`gray` (see
        :func:`glyph_ink_at`); None for a glyph of a vertical line."""
        if _vertical(g.line):
            return None
        return glyph_ink_at(self.gray, g.box, g.line,
                            [o.box for o in self.glyphs if o.line == g.line], self.crop,
                            max_aspect=max_aspect)


GlyphReads = dict[tuple, tuple[object, tuple[Glyph, ...]]]
"""The glyph reads made on one image, by crop (:func:`_locate`): a check passes one such
dict to every :func:`verify` and :func:`verify_disputed` call on its image, so a crop read
once is not read again. Keys are the engine and the crop's place and scale in the image;
the same pixels read by the same engine give the same glyphs, so a reused read is exactly
the read that would have been made."""


def _locate(arr: np.ndarray, box: tuple[int, int, int, int], text: str, engine,
            line_height: float | None, also: dict[int, tuple[str, ...]] | None = None,
            reads: GlyphReads | None = None) -> _Located:
    """Read the region around ``box`` glyph by glyph and align ``text`` with the glyphs:
    an expected character maps to a glyph read as itself, as one of its look-alikes or
    (``also``, by index) as one of the given characters. ``reads``: the glyph reads
    already made on ``arr`` (:data:`GlyphReads`), consulted and added to."""
    h, w = arr.shape[:2]
    lh = line_height or max(1, box[3] - box[1])
    margin = max(6, int(0.4 * lh))
    x0, y0 = max(0, box[0] - margin), max(0, box[1] - margin)
    x1, y1 = min(w, box[2] + margin), min(h, box[3] + margin)
    crop = arr[y0:y1, x0:x1]
    scale = max(1.0, min(4.0, GLYPH_PX / max(lh, 1)))
    scale = min(scale, 2000 / max(crop.shape[:2]))
    if scale > 1.01:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    crop = np.ascontiguousarray(crop)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    key = (id(engine), x0, y0, x1, y1, scale)
    done = None if reads is None else reads.get(key)
    if done is not None and done[0] is engine:
        glyphs = list(done[1])
    else:
        glyphs = _glyphs(engine, crop)
        if reads is not None:
            reads[key] = (engine, tuple(glyphs))

    # align the expected characters (spaces dropped) with the characters read, line by
    # line (lines may come in any order: columns, panels)
    want = [(i, ch) for i, ch in enumerate(text) if not ch.isspace()]
    from rapidfuzz.distance import Levenshtein
    a = "".join(_fold(ch)[:1] or ch for _, ch in want)
    lines: dict[tuple[int, int, int, int], list[int]] = {}
    for k, g in enumerate(glyphs):
        lines.setdefault(g.line, []).append(k)
    where: dict[int, int] = {}
    aligned = []
    for ks in lines.values():
        b = "".join(_fold(glyphs[k].char)[:1] or glyphs[k].char for k in ks)
        ops = Levenshtein.opcodes(a, b)
        aligned.append((sum(o.src_end - o.src_start for o in ops if o.tag == "equal"), ks, ops))
    # the lines that share most with the expected text first (the crop may hold a
    # neighbour's line too); a character maps to an equal one, or to one of its look-alikes
    for _, ks, ops in sorted(aligned, key=lambda t: -t[0]):
        for op in ops:
            if op.tag not in ("equal", "replace") or \
                    op.src_end - op.src_start != op.dest_end - op.dest_start:
                continue
            for j in range(op.src_end - op.src_start):
                i, ch = want[op.src_start + j]
                k = ks[op.dest_start + j]
                if op.tag == "equal" or glyphs[k].char in lookalikes_of(ch) \
                        or glyphs[k].char in (also or {}).get(i, ()):
                    where.setdefault(i, k)
    return _Located(crop, gray, glyphs, where, float(lh), max(1.0, float(scale)))


def verify(arr: np.ndarray, box: tuple[int, int, int, int], text: str, engine,
           line_height: float | None = None, trace: list[dict] | None = None,
           read_confidence: float = 0.0, reads: GlyphReads | None = None) -> list[Doubt]:
    """Check every look-alike-prone character of ``text``, read in ``box`` (pixels) of the
    RGB image ``arr``, glyph by glyph (see the module docstring); the doubts, empty when
    each has positive evidence. ``engine`` is a rapidocr engine (``read_glyphs``,
    ``recognize``); ``read_confidence``: the judge's confidence in the read that matched;
    ``reads``: the glyph reads already made on ``arr`` (:data:`GlyphReads`)."""
    sus = suspects(text)
    if not sus:
        return []
    if not _faces():
        return [Doubt(s.index, s.char, "no reference font to compare glyphs with") for s in sus]
    loc = _locate(arr, box, text, engine, line_height, reads=reads)
    glyphs, where, lh = loc.glyphs, loc.where, loc.lh

    clear = CLEAR_MARGIN if lh >= SMALL_LINE_PX else CLEAR_MARGIN_SMALL
    # rapidocr cannot read Hangul: in a Korean line the characters around a digit are not
    # read, so an unlocated digit there is not evidence of anything (its shape is checked
    # when it is located)
    hangul = any(0xAC00 <= ord(c) <= 0xD7AF or 0x3130 <= ord(c) <= 0x318F for c in text)
    doubts: list[Doubt] = []
    for s in sus:
        k = where.get(s.index)
        if k is not None and _fold(glyphs[k].char) != _fold(s.char) \
                and glyphs[k].char not in s.alts:
            k = None  # aligned with another character: the re-read went its own way here
        if k is None:
            # not found again on the glyph read: a character the judge reads by its prior
            # stays unverified; any other stands on the region's own sure read
            if not hangul and (s.char in PRIOR_BOUND or read_confidence < SURE_READ):
                doubts.append(Doubt(s.index, s.char, "glyph not located on a per-character read"))
            continue
        g = glyphs[k]
        if g.char in s.alts:
            doubts.append(Doubt(s.index, s.char, f"read {g.char!r} on a per-character read",
                                likely=g.char))
            continue
        aspect = 1.3 * widest((s.char,) + s.alts)
        at = loc.ink_at(g, max_aspect=aspect)  # None on a vertical line
        ink = at[0] if at is not None else loc.ink(g, max_aspect=aspect)
        sure = g.confidence >= SURE_READ
        if ink is None:
            if not sure or s.char in PRIOR_BOUND:
                doubts.append(Doubt(s.index, s.char, "no ink found for the glyph, and read "
                                    f"with confidence {g.confidence:.2f}"))
            continue
        cmp = compare(ink, s.char, s.alts)
        if cmp is None:
            doubts.append(Doubt(s.index, s.char, "no reference face has these glyphs"))
            continue
        lead, scores = cmp
        rival = max((c for c in scores if c != s.char), key=scores.get)
        said = None  # the glyph read alone: read below only where it can change the verdict
        wide = _wider_than_digits(loc, text, s.index, ink) if s.char == "0" else None
        if trace is not None:
            said = _said(engine, ink, s.char)
            trace.append({"index": s.index, "char": s.char, "read": g.char,
                          "conf": round(g.confidence, 3),
                          "scores": {c: round(v, 3) for c, v in scores.items()},
                          "lead": round(lead, 3), "rival": rival, "said": said,
                          "ink_h": int(ink.shape[0]), "lh": round(float(lh), 1),
                          "wide": None if wide is None else round(wide, 3)})
        if hangul and max(scores.values()) < FIT_FLOOR:
            continue  # a box guessed on a line the recogniser cannot read (see FIT_FLOOR)
        if s.char in "1lI" and any(a in "1lI" for a in s.alts) and flagged_stem(ink):
            if s.char == "1":
                continue  # a one-stem glyph with a flag and a plain foot: a sans 1
            doubts.append(Doubt(s.index, s.char, "one stem with a flag at its top left and a "
                                "plain foot, as a sans-serif 1 is drawn", likely="1"))
            continue
        if s.char == "1" and sure and ink.shape[0] < STEM_MIN_PX \
                and scores[s.char] - max(scores.get(c, -1.0) for c in "lI") > -FAINT_MAX_GAP:
            if at is not None and faint_flag(loc.gray, *at):
                if trace is not None:
                    trace[-1]["faint_flag"] = True
                continue  # a legal-size sans 1, its flag measured on the grey levels
        if wide is not None and wide >= WIDE_ZERO and lh >= SMALL_LINE_PX:
            doubts.append(Doubt(s.index, s.char, f"drawn {wide:.2f} times as wide as the digits "
                                "beside it, as a capital O is (shape scores: "
                                + ", ".join(f"{c!r} {v:.2f}" for c, v in scores.items()) + ")",
                                likely="O"))
            continue
        if lh < SMALL_LINE_PX and s.char in FINE_MARGIN:
            fine = None if at is None else _fine_print(loc, at, s.char, trace)
            if fine is not None:
                fine_rival = max((c for c in fine if c != s.char), key=fine.get)
                if fine[s.char] - fine[fine_rival] < -FINE_MARGIN[s.char]:
                    doubts.append(Doubt(s.index, s.char, "legal-size glyph drawn as its "
                                        f"look-alike: in grey levels, at its own scale, it fits "
                                        f"{fine_rival!r} ({fine[fine_rival]:.2f}) better than "
                                        f"{s.char!r} ({fine[s.char]:.2f})", likely=fine_rival))
                    continue
        if s.char in PRIOR_PAIRS:
            prior = [c for c in PRIOR_PAIRS[s.char] if c in scores]
            prior_rival = max(prior, key=scores.get) if prior else None
            margin = max(clear, PAIR_MARGIN.get(s.char, 0.0))
            if prior_rival is not None and scores[s.char] - scores[prior_rival] < -margin:
                doubts.append(Doubt(s.index, s.char, _fit(scores, s.char, prior_rival),
                                    likely=prior_rival))
                continue
            others = {c: v for c, v in scores.items() if c == s.char or c not in prior}
            if len(others) < 2:
                continue
            rival = max((c for c in others if c != s.char), key=others.get)
            lead = others[s.char] - others[rival]
        fit = _fit(scores, s.char, rival)
        if trace is None and lead < MARGIN and (not sure or lead < -clear):
            said = _said(engine, ink, s.char)  # otherwise neither rule below reads it
        if said in s.alts and lead < MARGIN and (not sure or lead < -clear):
            # read as its look-alike on its own: evidence when the judge was not sure of it
            # in its line, or when its shape clearly agrees (a sure read of 5 whose lone
            # glyph reads S, with shapes 0.05 apart, is a correct 5: bench qa seed 3)
            doubts.append(Doubt(s.index, s.char, f"read {said!r} on its own; " + fit,
                                likely=said))
        elif not sure and ((said is not None and said != s.char and lead < MARGIN)
                           or lead < -clear
                           or (is_cjk(s.char) and lead < -UNSURE_CJK_MARGIN)):
            doubts.append(Doubt(s.index, s.char, fit + f"; read with confidence "
                                f"{g.confidence:.2f} in its line, {said!r} on its own",
                                likely=rival if lead < 0 else None))
        elif (lh < SMALL_LINE_PX and is_cjk(s.char) and lead < -SMALL_CJK_MARGIN
              and max(scores.values()) >= KNOWN_FIT):
            doubts.append(Doubt(s.index, s.char, fit + "; small type in a face the reference "
                                "faces explain, where a sure read is no proof", likely=rival))
    return doubts


def _fine_print(loc: _Located, at: tuple[np.ndarray, tuple[int, int]], char: str,
                trace: list[dict] | None) -> dict[str, float] | None:
    """:func:`qa.fine_print.scores` of ``char`` and its prior twins (:data:`PRIOR_PAIRS`) for
    a glyph of a legal-size line (``at``: its ink and where it lies, :meth:`_Located.ink_at`);
    None when it cannot be measured (no contrast)."""
    got = fine_print.scores(loc.gray, at[0], at[1], loc.scale,
                            (char,) + tuple(PRIOR_PAIRS[char]), _faces(), has_glyph,
                            top=TOP_FACES)
    if trace is not None and got is not None:
        trace[-1]["fine"] = {c: round(v, 3) for c, v in got.items()}
    return got


def _wider_than_digits(loc: _Located, text: str, index: int, ink: np.ndarray) -> float | None:
    """How much wider the glyph of ``text[index]`` (``ink``) is than the other digits of its
    token (``2``–``9``, located, read as themselves and about as high): its ink width over
    their median ink width; None when the token has no such digit. See
    :data:`WIDE_ZERO`."""
    widths = []
    for j in _span(text, index, lambda ch: not ch.isspace()):
        if j == index or text[j] not in "23456789" or j not in loc.where:
            continue
        g = loc.glyphs[loc.where[j]]
        if g.char != text[j]:
            continue
        other = loc.ink(g, max_aspect=1.3 * widest((text[j],) + lookalikes_of(text[j])))
        # a digit is as high as the glyph (lining figures, capitals): other ink is a
        # neighbour cut wrongly
        if other is not None and 0.8 <= other.shape[0] / ink.shape[0] <= 1.25:
            widths.append(other.shape[1])
    if not widths:
        return None
    return float(ink.shape[1]) / float(np.median(widths))


def verify_disputed(arr: np.ndarray, box: tuple[int, int, int, int], text: str,
                    disputed: dict[int, str], engine, line_height: float | None = None,
                    trace: list[dict] | None = None, reads: GlyphReads | None = None
                    ) -> list[Doubt]:
    """Glyph evidence for characters in dispute: ``disputed`` maps an index of ``text``
    to the character the judge read there instead. Each such glyph, located as in
    :func:`verify` (read glyph by glyph, aligned with ``text``; the judge's character
    counts as a match), must fit the expected character better than the judge's
    character and every look-alike of the expected one, by :data:`DISPUTE_MARGIN`, in
    the reference faces that explain it best. The doubts; empty when every disputed
    glyph is the expected character by its shape. (The characters not in dispute are
    :func:`verify`'s.) ``reads``: the glyph reads already made on ``arr``
    (:data:`GlyphReads`)."""
    if not disputed:
        return []
    if not _faces():
        return [Doubt(i, text[i], "no reference font to compare glyphs with") for i in disputed]
    alts_of = {i: tuple(dict.fromkeys(c for c in (r,) + lookalikes_of(text[i])
                                      if len(c) == 1 and c != text[i]))
               for i, r in disputed.items()}
    loc = _locate(arr, box, text, engine, line_height, also=alts_of, reads=reads)
    doubts: list[Doubt] = []
    for i, judged in sorted(disputed.items()):
        ch, alts = text[i], alts_of[i]
        k = loc.where.get(i)
        if k is not None and _fold(loc.glyphs[k].char) != _fold(ch) \
                and loc.glyphs[k].char not in alts:
            k = None
        if k is None:
            doubts.append(Doubt(i, ch, f"read {judged!r} by the judge; glyph not located on a "
                                "per-character read"))
            continue
        g = loc.glyphs[k]
        ink = loc.ink(g, max_aspect=1.3 * widest((ch,) + alts))
        cmp = None if ink is None else compare(ink, ch, alts)
        if cmp is None:
            doubts.append(Doubt(i, ch, f"read {judged!r} by the judge; no glyph ink, or no "
                                "reference face has these glyphs"))
            continue
        lead, scores = cmp
        rival = max((c for c in scores if c != ch), key=scores.get)
        if trace is not None:
            trace.append({"index": i, "char": ch, "judged": judged, "read": g.char,
                          "scores": {c: round(v, 3) for c, v in scores.items()},
                          "lead": round(lead, 3), "ink_h": int(ink.shape[0]),
                          "lh": round(loc.lh, 1)})
        said = _read_alone(engine, ink)
        if len(said) == 1 and _fold(said) == _fold(judged) and _fold(said) != _fold(ch):
            # the judge reads its character in the glyph alone too, without the line's
            # context (a drawn v for y, read y by tesseract's own language model)
            doubts.append(Doubt(i, ch, f"read {judged!r} by the judge, in its line and on its "
                                "own; " + _fit(scores, ch, rival), likely=judged))
        elif _strict_dispute(ch, judged):
            if lead < DISPUTE_MARGIN:
                doubts.append(Doubt(i, ch, f"read {judged!r} by the judge; "
                                    + _fit(scores, ch, rival), likely=rival if lead < 0 else None))
        elif lead < 0 and max(scores.values()) >= DISPUTE_FIT:
            doubts.append(Doubt(i, ch, f"read {judged!r} by the judge; " + _fit(scores, ch, rival),
                                likely=rival))
    return doubts


def _strict_dispute(expected: str, judged: str) -> bool:
    """A dispute that needs positive shape evidence: a look-alike pair of the tables, or
    a digit on either side (a price or a date must never pass on a misread)."""
    return (judged in lookalikes_of(expected) or expected in lookalikes_of(judged)
            or expected.isdigit() or judged.isdigit())


DISPUTE_MARGIN = 0.05
"""In :func:`verify_disputed`: how much better the expected character must fit a disputed
glyph than the judge's character (and the expected character's look-alikes) when the two
are a look-alike pair or a digit is involved (:func:`_strict_dispute`)."""

DISPUTE_FIT = 0.5
"""For any other pair (``t`` read ``f``, ``i`` read ``l``, ``同`` read ``间``): a glyph that
a candidate explains at least this well (best shape score) fails when the judge's
character fits it better. Below it no candidate explains the ink (letters joined by blur
or drawn as a ligature), and its shape is no evidence either way: the pair stands on the
two reads. Measured on lines drawn in DejaVu Sans, URW Gothic, Nimbus Roman, Nimbus Sans
Bold and P052 at 20 and 72 px: the second ``f`` of ``Offer`` (touching the first) fits
``f`` 0.19–0.37 and ``t`` 0.30–0.45 where they touch; a drawn ``t`` for ``r``
(``customet``) fits ``t`` 0.81–0.94, 0.4–0.8 above ``r``; a drawn ``l`` for ``i``
(``detalls``) fits ``l`` 0.86–0.97, 0.04–0.07 above ``i``; a correct ``i`` fits ``i``
0.02–0.15 above ``l``. Known limit: URW Gothic draws ``t`` so like ``f`` that a drawn
``t`` for ``f`` fits ``f`` better (0.87 against 0.81): there only the second reader's
read stands between ``Otfer`` and a pass."""


UNSURE_CJK_MARGIN = 0.05
"""A CJK character the judge is not sure of in its line (below :data:`SURE_READ`) fails when
its look-alike fits its glyph better by more than this, even when the glyph read alone is
the expected character: alone, too, the recogniser reads a rare look-alike as its common
twin. Regression (``bench qa --set lookalike-hard --seed 3``, LH3-0037, which was held out
until then): ``夭天特价`` in a 100 px AR PL UMing headline passed, its ``夭`` read ``天`` at
0.89 in the line and alone, fitting ``夭`` 0.09 better; the correct twin reads ``天`` at
0.999 (sure), its shapes 0.005 above and 0.024 below ``夭``."""

KNOWN_FIT = 0.75
"""A glyph that a reference face explains this well (best shape score) is drawn in a face
like the references, so its shape is evidence even against a sure read: see
:data:`SMALL_CJK_MARGIN`. (Small correct glyphs in the hard set's unseen faces fit their
look-alike at most 0.703 — a correct ``享`` in WenQuanYi Zen Hei, seed 5, that scores 0.055
below ``亨``; the drawn ``夭`` of the look-alike set fits at 0.79.)"""

SMALL_CJK_MARGIN = 0.03
"""At legal size (lines under :data:`SMALL_LINE_PX`) the recogniser reads a CJK character by
its prior, in its line and alone: ``夭天特价`` in 15 px Noto Sans reads ``天天特价`` with
confidence 1.0, and ``夭`` alone reads ``天``. There, a CJK character whose glyph a reference
face explains (:data:`KNOWN_FIT`) and whose look-alike fits it better by more than this
fails. Measured on ``bench qa --set lookalike --seed 1`` (tuning): the drawn ``夭`` scores
0.058 below ``天``; correct small CJK glyphs in the reference faces score 0.005 above to
0.008 below their look-alike (``末``/``未``). The margin alone does not separate them from
correct glyphs in unseen faces (a ``享`` 0.055 below ``亨``), hence :data:`KNOWN_FIT`."""

FIT_FLOOR = 0.2
"""In a Hangul line, a glyph whose ink fits neither the expected character nor any of its
look-alikes (best shape score below this) was not found: rapidocr cannot read Hangul, so
its character boxes there are guesses (measured: the ink under the ``0`` of ``최대 50%
할인`` in the Korean Noto face, a box over ``대 5``, scores -0.05 as ``O`` and -0.73 as
``0``; a drawn look-alike fits its own shape at 0.5 and more). It is then treated as an
unlocated digit in a Hangul line: no evidence either way."""

WIDE_ZERO = 1.35
"""A ``0`` whose ink is this many times as wide as the median of the other digits of its
token (:func:`_wider_than_digits`) is a capital ``O`` (or ``D``), whatever its shape scores:
a narrow face's ``O`` fits the reference faces' ``0`` (``2O25`` in Nimbus Sans Narrow Bold
scores 0.26 above ``O``). Font metrics of the 60 upright proportional faces installed
(``O`` and ``D`` against each digit 2–9): a ``0`` is at most 1.19 times as wide as one other
digit (FreeSerif's ``3`` and ``8``), an ``O`` at least 1.18 times the median of them
(URW Bookman Demi; most 1.3–1.7). Measured on lines of 24–96 px type in 24 faces
(rotation ±2°, blur σ 0.3–0.9, noise, JPEG 70–90; probe seed 200, a tuning set): correct
``0`` at most 1.25, ``O`` for ``0`` from 1.21, all those that passed before from 1.375. Not
applied to legal-size lines (under :data:`SMALL_LINE_PX`), where ink widths of 6–9 px
measure correct ``0`` up to 1.9. Monospaced faces draw ``O`` as wide as ``0``: no evidence
there."""

FINE_MARGIN: dict[str, float] = {"0": 0.1}
"""A legal-size ``0`` (lines under :data:`SMALL_LINE_PX`) fails when ``O`` or ``D`` explains
its grey levels, compared at its own scale and blur (:mod:`qa.fine_print`), better by more
than this. Set on probe lines of 12–18 px type (five prices, dates and codes with a ``0``;
rotated ±2°, skewed, blurred σ 0.3–0.8, noise, JPEG 70–92) in 15 faces that are not the
look-alike-hard set's (DejaVu, Liberation, FreeFont, two monospaced; tuning): correct
``0`` scored down to -0.066 (193 glyphs), and of 75 lines with an ``O`` or ``D`` drawn for
a ``0`` the other rules let 28 through, this one 19 (ten of them monospaced, whose ``O`` is
as narrow as a ``0``). The same lines in the 14 URW faces (looked at while choosing, so not
held out): correct ``0`` down to -0.083 (185 glyphs), look-alikes let through 18 → 8 (five
in Nimbus Sans Narrow, whose ``O`` fits the reference faces' ``0``); no correct line
failed in either.

Not for ``1``: a correct legal-size ``1`` scores as low against ``l``/``I`` as a drawn
``l`` or ``I`` does (on the same probe lines, 14 of 144 correct ``1`` below -0.1, and 36 of
71 look-alikes); at 12–18 px a serif ``1`` and ``l`` differ by a pixel or two."""

STEM_MIN_PX = 24
"""Below this ink height a stem's flag and foot are not resolved (legal-size type: a 1 px
flag blurs into the stem), and :func:`flagged_stem` says nothing."""


def flagged_stem(ink: np.ndarray) -> bool:
    """Whether a glyph's ink is one vertical stem with a flag at its top left, nothing at
    its top right and a plain foot — how sans-serif faces draw ``1`` (Helvetica, Futura,
    FreeSans clones) and how no face draws ``l`` or ``I`` (a sans ``l``/``I`` is a plain
    stem; a serif ``l`` has a foot serif, a serif ``I`` serifs on both sides, a monospaced
    ``l`` a tail at its foot). Such a ``1`` is narrow like an ``l``, so the reference faces,
    whose ``1`` has a foot bar, fit ``l`` better; this is the positive evidence for it.
    The stem's edges are fitted along its middle rows, so a rotated glyph measures the
    same. False when the ink is under :data:`STEM_MIN_PX` high or not one stem."""
    h, w = ink.shape
    if h < STEM_MIN_PX:
        return False
    mid = range(int(0.35 * h), int(0.85 * h))
    rows, left, right = [], [], []
    single = 0
    for r in mid:
        xs = np.flatnonzero(ink[r])
        if not len(xs):
            continue
        rows.append(r)
        left.append(xs[0])
        right.append(xs[-1])
        single += int(xs[-1] - xs[0] + 1 == len(xs))
    if len(rows) < 0.8 * len(mid) or single < 0.8 * len(rows):
        return False
    stem = float(np.median(np.array(right) - np.array(left) + 1))
    if stem > 0.3 * h:
        return False
    fl, fr = np.polyfit(rows, left, 1), np.polyfit(rows, right, 1)

    def reach(r: int) -> tuple[float, float]:
        xs = np.flatnonzero(ink[r])
        if not len(xs):
            return 0.0, 0.0
        return float(np.polyval(fl, r) - xs[0]), float(xs[-1] - np.polyval(fr, r))

    top = [reach(r) for r in range(0, int(0.3 * h))]
    foot = [reach(r) for r in range(int(0.88 * h), h)]
    flag = max(lf for lf, _ in top)
    flag_rows = sum(1 for lf, _ in top if lf >= 0.5 * stem)
    return (flag >= max(0.6 * stem, 2.0) and flag_rows >= max(2, int(0.06 * h))
            and max(rt for _, rt in top) <= 0.35 * flag
            and all(lf < 0.5 * stem and rt < 0.5 * stem for lf, rt in foot))


_LATIN_PRIOR = frozenset("01ODlI")
"""Read alone, these read by the prior all the same (a lone round ``O`` reads ``0``)."""


def _fit(scores: dict[str, float], char: str, rival: str) -> str:
    lead = scores[char] - scores[rival]
    return (f"glyph shape fits {rival!r} ({scores[rival]:.2f}) "
            f"{'better than' if lead < 0 else 'about as well as'} {char!r} ({scores[char]:.2f})")


def _said(engine, ink: np.ndarray, char: str) -> str | None:
    """What :func:`verify` takes from the glyph read alone, as a suspect ``char``: its
    one character, or None — for the characters read by the prior alone too
    (:data:`_LATIN_PRIOR`, not read), or a read of other than one character (touching
    neighbours' ink: no evidence either way)."""
    if char in _LATIN_PRIOR:
        return None
    said = _read_alone(engine, ink)
    return said if len(said) == 1 else None


def _read_alone(engine, ink: np.ndarray) -> str:
    """The recogniser's read of one glyph's ink alone, dark on white with a margin (no
    context, no neighbour's strokes)."""
    h, w = ink.shape
    pad = max(4, int(0.3 * max(h, w)))
    canvas = np.full((h + 2 * pad, w + 2 * pad), 255, np.uint8)
    canvas[pad:pad + h, pad:pad + w][ink] = 0
    if canvas.shape[0] < 48:
        s = 48 / canvas.shape[0]
        canvas = cv2.resize(canvas, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1
                            else cv2.INTER_CUBIC)
    text, _ = engine.recognize(np.ascontiguousarray(np.stack([canvas] * 3, axis=-1)))
    return "".join(ch for ch in text if ch.isalnum())


FAINT_FLAG = 0.38
"""In :func:`faint_flag`: how much ink the flag of a legal-size sans ``1`` adds at the
stem's top left, as a share of the stem's own ink in a row (grey levels, not thresholded).
Set on 13–16 px lines (rotated ±4°, blurred σ 0.3–1, noise, JPEG 55–90) in 24 faces (the
URW clones, DejaVu, Liberation, FreeFont, three monospaced faces) on a plain ground: no
``l`` or ``I`` with a plain foot reached 0.19 (1,137 drawn), and the ``1`` of URW Gothic
and Nimbus Sans (regular, bold, narrow) reached 0.38 in 88 of 144 renders. Checked on the
hard set's textures (stripes, discs): one ``l`` of 1,099 reached 0.39 (see
:data:`FAINT_MAX_GAP`); 86 of 141 such ``1`` did."""

FAINT_MAX_GAP = 0.75
"""The flag of :func:`faint_flag` is not taken as evidence when the reference faces' ``l`` or
``I`` fits the glyph better than their ``1`` by more than this: the one textured ``l`` whose
top left a stripe's edge darkened (0.39, Liberation Sans) fitted ``l`` 0.86 better; of the
174 sans ``1`` whose flag was measured, two fitted more than 0.69 below (0.76, 0.8)."""

FAINT_FOOT = 1.15
"""In :func:`faint_flag`: the widest foot row, as a multiple of the stem's ink in a row,
of a plain foot (a serif ``l`` or ``I`` scores 1.3–2.8; the plain stems 0.84–1.13)."""

FAINT_FOOT_SIDE = 0.35
"""In :func:`faint_flag`: how much ink the foot may add on either side, as a share of the
stem's ink in a row (a foot serif on one side, a monospaced ``l``'s tail)."""


def faint_flag(gray: np.ndarray, ink: np.ndarray, at: tuple[int, int]) -> bool:
    """:func:`flagged_stem` for type too small for it (ink under :data:`STEM_MIN_PX`
    high, where a sans ``1``'s flag is one blurred pixel: URW Gothic, Nimbus Sans at
    11–13 px): whether the glyph is one narrow stem whose top left carries extra ink
    that its top right does not take away (a flag, not a lean), with a plain foot —
    measured on the grey levels of ``gray`` (the crop the ink was cut from; ``at``: the
    ink's top left corner there), per row, against the stem's own middle rows (fitted,
    so a rotated glyph measures the same). See :data:`FAINT_FLAG`,
    :data:`FAINT_FOOT`, :data:`FAINT_FOOT_SIDE`."""
    h, w = ink.shape
    if not 8 <= h < STEM_MIN_PX or w > 0.6 * h:
        return False
    p = stem_profile(gray, ink, at)
    return (p is not None and p["flag"] >= FAINT_FLAG and p["foot"] <= FAINT_FOOT
            and max(p["foot_left"], p["foot_right"]) <= FAINT_FOOT_SIDE)


def stem_profile(gray: np.ndarray, ink: np.ndarray, at: tuple[int, int]
                 ) -> dict[str, float] | None:
    """A one-stem glyph measured on its grey levels (for :func:`faint_flag`): ``flag``,
    the most ink a row of its top 30 % adds on the stem's left beyond the middle rows'
    (no more than it adds in all: a row shifted left by a lean adds none), and for its
    bottom 20 % ``foot`` (the widest row's ink) and ``foot_left``/``foot_right`` (ink
    added on each side), all in units of a middle row's ink. None when the glyph and its
    ground cannot be told apart."""
    h, w = ink.shape
    y0, x0 = at
    ya, yb = max(0, y0 - 1), min(gray.shape[0], y0 + h + 1)
    xa, xb = max(0, x0 - 3), min(gray.shape[1], x0 + w + 3)
    g = gray[ya:yb, xa:xb].astype(np.float32)
    own = np.zeros(g.shape, bool)
    own[y0 - ya:y0 - ya + h, x0 - xa:x0 - xa + w] = ink
    near = cv2.dilate(own.astype(np.uint8), np.ones((3, 5), np.uint8)).astype(bool)
    # the ground's level: the pixels around the glyph that are no glyph's ink
    wide = gray[max(0, y0 - 4):y0 + h + 4, max(0, x0 - 8):x0 + w + 8]
    ground = ~ink_mask(wide)
    if ground.sum() < 8:
        return None
    bg, level = float(np.median(wide[ground])), float(np.median(g[own]))
    if abs(bg - level) < 20:
        return None
    d = np.clip((bg - g) / (bg - level), 0.0, 1.5) * near  # 1 = the stem's ink, 0 = ground
    xs = np.arange(g.shape[1], dtype=np.float32)
    m = d.sum(axis=1)
    c = (d * xs).sum(axis=1) / np.maximum(m, 1e-6)
    top = y0 - ya
    mid = [r for r in range(top + int(0.35 * h), top + int(0.85 * h)) if m[r] > 0.3]
    if len(mid) < 3:
        return None
    centre = np.polyval(np.polyfit(mid, c[mid], 1), np.arange(g.shape[0]))
    left = np.array([(d[r] * (xs < centre[r])).sum() for r in range(g.shape[0])])
    right = m - left
    stem = float(np.median(m[mid]))
    ml, mr = float(np.median(left[mid])), float(np.median(right[mid]))
    head = range(top, top + max(2, int(round(0.3 * h))))
    foot = range(top + int(0.8 * h), top + h)
    return {
        "flag": max(min(left[r] - ml, left[r] - ml + right[r] - mr) for r in head) / stem,
        "foot": float(max(m[r] for r in foot)) / stem,
        "foot_left": float(max(left[r] - ml for r in foot)) / stem,
        "foot_right": float(max(right[r] - mr for r in foot)) / stem,
    }


# -- small kana: verified by their size ------------------------------------------------------------

SMALL_KANA: dict[str, str] = dict(zip("ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ",
                                      "あいうえおつやゆよわアイウエオツヤユヨワカケ"))
"""Each small kana and the full-size kana it is a smaller copy of. The judge reads a line
without the glyphs' sizes, so it often reads a small ``ィ`` as ``イ``
(``セキュリテイ``); the two differ only in size, which :func:`small_kana_sizes` measures."""


def full_size(text: str) -> str:
    """``text`` with every small kana replaced by its full-size form."""
    return "".join(SMALL_KANA.get(ch, ch) for ch in text)


SMALL_KANA_Z = -0.35
"""A small kana read as its full-size form is verified small when its measured height
(over the median height of the full-size kana and ideographs of its line) lies this far
towards the small form's height from the midpoint between the two forms' heights as the
reference face predicts them for that line, on a scale where the small form is -0.5 and the
full form +0.5 (log heights). Measured on probe lines (8 words, Noto Sans/Serif CJK,
WenQuanYi Zen Hei, AR PL UMing, 14–90 px, rotated ±2°, blurred, JPEG; tuning data): small
kana -1.54 to +0.2 (62 of 76 at -0.35 or less), full-size kana -0.25 to +1.2 (none)."""


def _cjk_reference() -> tuple[str, int] | None:
    return next(((p, f) for p, f in _faces() if "CJK" in Path(p).name), None)


@lru_cache(maxsize=512)
def _ref_height(ch: str) -> float | None:
    ref = _cjk_reference()
    if ref is None:
        return None
    bb = ImageFont.truetype(ref[0], 96, index=ref[1]).getmask(ch).getbbox()
    return None if bb is None else float(bb[3] - bb[1])


def _line_letter(ch: str) -> bool:
    """A full-size kana or ideograph: what a small kana's height is measured against."""
    return (ch not in SMALL_KANA and ch not in "ー一ｰ" and is_cjk(ch)
            and unicodedata.category(ch).startswith("L"))


def small_kana_z(text: str, i: int, ratio: float) -> float | None:
    """Where the measured height ``ratio`` of the small kana ``text[i]`` (over the median
    height of the full-size kana and ideographs of its line, :func:`small_kana_sizes`) lies
    between the heights the reference face gives its small form (-0.5) and its full-size
    form (+0.5), in log heights; None without a CJK reference face. See
    :data:`SMALL_KANA_Z`."""
    small = text[i]
    others = [_ref_height(c) for j, c in enumerate(text) if j != i and _line_letter(c)]
    others = [o for o in others if o]
    hs, hf = _ref_height(small), _ref_height(SMALL_KANA[small])
    if not others or not hs or not hf or hf <= hs or ratio <= 0:
        return None
    mid = float(np.median(others))
    ps, pf = hs / mid, hf / mid
    return math.log(ratio / math.sqrt(ps * pf)) / math.log(pf / ps)


def small_kana_doubts(arr: np.ndarray, box: tuple[int, int, int, int], text: str, engine,
                      line_height: float | None = None, reads: GlyphReads | None = None
                      ) -> list[Doubt] | None:
    """Each small kana of ``text`` that the glyph read gives as its full-size form must be
    small by its measured height (:func:`small_kana_z` at most :data:`SMALL_KANA_Z`); the
    doubts, empty when every such kana is verified small, None when none was read
    full-size (nothing to verify). ``reads``: the glyph reads already made on ``arr``
    (:data:`GlyphReads`)."""
    doubts: list[Doubt] = []
    disputed = 0
    for i, (ratio, read) in small_kana_sizes(arr, box, text, engine, line_height,
                                             reads).items():
        if read != SMALL_KANA[text[i]]:
            continue
        disputed += 1
        z = None if ratio is None else small_kana_z(text, i, ratio)
        if z is None:
            doubts.append(Doubt(i, text[i], "read full-size, and its size could not be "
                                "measured", likely=read))
        elif z > SMALL_KANA_Z:
            doubts.append(Doubt(i, text[i], f"read full-size, and its height ({ratio:.2f} of "
                                "the line's) is not a small kana's", likely=read))
    return doubts if disputed else None


def small_kana_sizes(arr: np.ndarray, box: tuple[int, int, int, int], text: str, engine,
                     line_height: float | None = None, reads: GlyphReads | None = None
                     ) -> dict[int, tuple[float | None, str | None]]:
    """For each small kana of ``text`` (read in ``box`` of the RGB image ``arr``, glyph by
    glyph): (its ink height over the median ink height of the full-size kana and ideographs
    of its line, or None where it or they cannot be measured or the line is vertical; the
    character the glyph read gave, None where it was not located)."""
    idx = [i for i, ch in enumerate(text) if ch in SMALL_KANA]
    if not idx:
        return {}
    loc = _locate(arr, box, text, engine, line_height,
                  also={i: (SMALL_KANA[text[i]],) for i in idx}, reads=reads)
    out: dict[int, tuple[float | None, str | None]] = {}
    for i in idx:
        k = loc.where.get(i)
        if k is None or _vertical(loc.glyphs[k].line):
            out[i] = (None, None if k is None else loc.glyphs[k].char)
            continue
        g = loc.glyphs[k]
        ink = loc.ink(g, max_aspect=1.5)
        heights = []
        for j, kj in loc.where.items():
            ch = text[j]
            o = loc.glyphs[kj]
            if j == i or o.line != g.line or not _line_letter(ch):
                continue
            other = loc.ink(o, max_aspect=1.5)
            if other is not None:
                heights.append(other.shape[0])
        out[i] = (None if ink is None or len(heights) < 2
                  else float(ink.shape[0]) / float(np.median(heights)), g.char)
    return out
