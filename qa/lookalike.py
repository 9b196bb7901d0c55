"""Look-alike glyphs: a wrong character that resembles the right one never passes.

The judge (PP-OCR) reads a line with a language prior: a round capital ``O`` inside a
price reads as the digit (``$1O9`` → ``$109``), ``曰`` in a date as ``日``, ``干`` as
``千``. An exact read is therefore no proof for a character that has a look-alike. For
every such character of an expected text (:data:`CJK_GROUPS`, :data:`DIGIT_LOOKALIKES`,
:data:`LETTER_LOOKALIKES`; see :func:`suspects`) the glyph itself is checked, without the
line's context, and the region passes only on positive evidence for each of them:

1. **locate** — the region is read again with a box per character (rapidocr's CTC
   positions); the glyph is the ink (connected components) under that character's box.
   A suspect character that cannot be located is not verified: the region fails.
2. **shape** — the glyph's ink is compared with the expected character and each of its
   look-alikes rendered in reference faces (:data:`REFERENCE_FACES`: DejaVu Sans/Serif,
   Noto Sans/Serif CJK, regular and bold), size-normalised, by correlation of the blurred
   ink plus a penalty on a different aspect ratio. The faces whose best candidate explains
   the glyph best decide; there the expected character must beat every look-alike by
   :data:`MARGIN`.
3. **context-free read** — for CJK characters and kana (where the recogniser is reliable
   on a single glyph, unlike Latin ``O``/``0``, which it reads as ``0`` even alone), the
   glyph is read on its own; reading one of its look-alikes is evidence against.

Two-letter confusions (``rn``/``m``, ``vv``/``w``, ``cl``/``d``) are not verified here:
the judge reads them letter by letter (tested), so a wrong one already fails on the read.
Characters drawn identically in common faces (I/l, ー/一 …) are not look-alikes but
:mod:`qa.glyphs`' identical glyphs.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

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

CLEAR_MARGIN = 0.2
"""A look-alike that fits the glyph better by more than this fails it whatever was read
(a round ``O`` for ``0`` scores about 0.35–0.95 below; a correct ``0`` at worst about 0.25
above)."""

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


def _token_has_digit(text: str, i: int) -> bool:
    """Whether the code-like token around ``text[i]`` (letters, digits, ``.,:/-``) holds a digit."""
    lo = i
    while lo > 0 and (text[lo - 1].isalnum() or text[lo - 1] in ".,:/-") and not is_cjk(text[lo - 1]):
        lo -= 1
    hi = i
    while hi < len(text) - 1 and (text[hi + 1].isalnum() or text[hi + 1] in ".,:/-") \
            and not is_cjk(text[hi + 1]):
        hi += 1
    return any(c.isdigit() for c in text[lo:hi + 1])


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


@lru_cache(maxsize=4096)
def _template(ch: str, path: str, face: int) -> tuple[np.ndarray, float] | None:
    """``ch`` rendered in a face: (size-normalised blurred ink, aspect ratio), or None when
    the face has no glyph for it."""
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


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Ink pixels of a grey crop (Otsu; the polarity is the one whose background, the
    crop's border, is the majority)."""
    g = np.ascontiguousarray(gray.astype(np.uint8))
    thr, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    light_bg = float(np.mean(border > thr)) >= 0.5
    return g <= thr if light_bg else g > thr


def glyph_ink(gray: np.ndarray, cell: tuple[int, int, int, int], line: tuple[int, int, int, int]
              ) -> np.ndarray | None:
    """The ink of the glyph whose (approximate) box is ``cell``, within its ``line`` box:
    the connected components centred under the cell, cropped; None when there is none."""
    h, w = gray.shape
    lh = max(1, line[3] - line[1])
    cx0, cx1 = cell[0], cell[2]
    pad = int(0.35 * lh)
    x0, x1 = max(0, cx0 - pad), min(w, cx1 + pad)
    y0, y1 = max(0, line[1] - pad // 3), min(h, line[3] + pad // 3)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    window = gray[y0:y1, x0:x1]
    ink = ink_mask(window)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    lo, hi = cx0 - x0, cx1 - x0
    width = max(1, hi - lo)
    min_area = max(2, int(0.002 * window.size))
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        if area < min_area:
            continue
        centre = x + bw / 2
        overlap = min(x + bw, hi) - max(x, lo)
        if lo - 0.1 * width <= centre <= hi + 0.1 * width or overlap >= 0.6 * min(bw, width):
            if bh > 0.95 * (y1 - y0) and bw > 0.95 * (x1 - x0):
                continue  # a frame or background blob, not a glyph
            keep[k] = True
    if not keep.any():
        return None
    mask = keep[labels]
    ys, xs = np.nonzero(mask)
    return mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


@dataclass(frozen=True)
class Glyph:
    """One character as read, with its box (in the crop it was read from) and its line box."""

    char: str
    confidence: float
    box: tuple[int, int, int, int]
    line: tuple[int, int, int, int]


def context_free(ch: str) -> bool:
    """Whether a single-glyph read of ``ch`` is evidence (CJK and kana, not Latin)."""
    return is_cjk(ch) and unicodedata.category(ch).startswith("L")


def _glyphs(engine, crop: np.ndarray) -> list[Glyph]:
    out: list[Glyph] = []
    for text, conf, box, line in engine.read_glyphs(crop):
        text = unicodedata.normalize("NFKC", text)
        n = len(text)
        for k, ch in enumerate(text):  # a multi-character entry: split its box evenly
            x0 = box[0] + (box[2] - box[0]) * k // n
            x1 = box[0] + (box[2] - box[0]) * (k + 1) // n
            if not ch.isspace():
                out.append(Glyph(ch, conf, (x0, box[1], x1, box[3]), line))
    return out


def _fold(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).casefold()


def verify(arr: np.ndarray, box: tuple[int, int, int, int], text: str, engine,
           line_height: float | None = None) -> list[Doubt]:
    """Check every look-alike-prone character of ``text``, read in ``box`` (pixels) of the
    RGB image ``arr``, glyph by glyph (see the module docstring); the doubts, empty when
    each has positive evidence. ``engine`` is a rapidocr engine (``read_glyphs``,
    ``recognize``)."""
    sus = suspects(text)
    if not sus:
        return []
    if not _faces():
        return [Doubt(s.index, s.char, "no reference font to compare glyphs with") for s in sus]
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
    glyphs = _glyphs(engine, crop)

    # align the expected characters (spaces dropped) with the characters read
    want = [(i, ch) for i, ch in enumerate(text) if not ch.isspace()]
    from rapidfuzz.distance import Levenshtein
    a = "".join(_fold(ch)[:1] or ch for _, ch in want)
    b = "".join(_fold(g.char)[:1] or g.char for g in glyphs)
    where: dict[int, int] = {}
    for op in Levenshtein.opcodes(a, b):
        if op.tag in ("equal", "replace") and op.src_end - op.src_start == op.dest_end - op.dest_start:
            for k in range(op.src_end - op.src_start):
                where[want[op.src_start + k][0]] = op.dest_start + k

    doubts: list[Doubt] = []
    for s in sus:
        k = where.get(s.index)
        if k is None:
            doubts.append(Doubt(s.index, s.char, "glyph not located on a per-character read"))
            continue
        g = glyphs[k]
        if g.char in s.alts:
            doubts.append(Doubt(s.index, s.char, f"read {g.char!r} on a per-character read",
                                likely=g.char))
            continue
        ink = glyph_ink(gray, g.box, g.line)
        if ink is None:
            doubts.append(Doubt(s.index, s.char, "no ink found for the glyph"))
            continue
        cmp = compare(ink, s.char, s.alts)
        if cmp is None:
            doubts.append(Doubt(s.index, s.char, "no reference face has these glyphs"))
            continue
        lead, scores = cmp
        rival = max((c for c in scores if c != s.char), key=scores.get)
        fit = (f"glyph shape fits {rival!r} ({scores[rival]:.2f}) "
               f"{'better than' if lead < 0 else 'about as well as'} {s.char!r} "
               f"({scores[s.char]:.2f})")
        if lead < -CLEAR_MARGIN:
            doubts.append(Doubt(s.index, s.char, fit, likely=rival))
            continue
        said = _read_alone(engine, ink) if context_free(s.char) else None
        if said is not None and said in s.alts:
            doubts.append(Doubt(s.index, s.char, f"read {said!r} on its own", likely=said))
            continue
        if lead < MARGIN:
            sure = g.confidence >= SURE_READ and not (said and said in s.alts)
            if not sure:
                doubts.append(Doubt(s.index, s.char, fit + f"; read with confidence "
                                    f"{g.confidence:.2f}" + (f", {said!r} on its own"
                                                             if said is not None else "")))
    return doubts


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
    return "".join(ch for ch in text if context_free(ch))
