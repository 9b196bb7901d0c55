"""The second reader: an independent read of a region the judge misreads.

The judge (PP-OCR through rapidocr) misreads some correct lines on its own — ``detalls``
for ``details``, ``Otfer`` for ``Offer``, ``6月80日`` for ``6月30日``, ``间享`` for ``同享``,
a ``*`` dropped — and does so again on every crop of them, because its language prior and
its features are the same each time. A reader with a different prior disagrees with it
there. :func:`qa.check` uses this module on a region that no read of the judge matches
(whole image, crops, small-text leniency), in the final judgement only; the region then
passes on three pieces of evidence together, and on nothing less:

1. **the judge's own read is close**: it differs from the expected text only by
   substituted characters — at most :data:`MAX_DISPUTED` letters, digits or ideographs,
   and never in how many there are (a letter missing, doubled or extra is a real error
   the judge sees) — and by punctuation marks it did not see (:func:`disputes`);
2. **the second reader reads the expected text exactly**: tesseract with its
   dictionaries off (no word list to pull ``detalls`` towards ``details``), on each of
   the judge's line boxes cut out, background evened, at a few scales (:func:`readings`);
3. **no disputed glyph is the judge's character by its shape**
   (:func:`qa.lookalike.verify_disputed`): where the pair is a look-alike pair of
   :mod:`qa.lookalike`'s tables or a digit is involved (``1``/``l``, ``3``/``8``,
   ``日``/``曰``), the substituted glyph's ink must fit the expected character better
   than the judge's character and the expected one's look-alikes — positive evidence;
   for any other pair (``t`` read ``f``, ``同`` read ``间``) the ink must not fit the
   judge's character better where a reference face explains it. Every look-alike-prone
   character of the text is then verified as on any exact read
   (:func:`qa.lookalike.verify`). So a look-alike substitution (``O`` for ``0``) still
   fails, and so does a wrong letter that tesseract happens to read as intended, unless
   its shape is no evidence either way (letters joined by blur: the known limit).

Cost: one tesseract call per line of a region that already failed every read of the
judge, plus a per-character read of the region when the second reader agrees with the
expected text; a region that passes never pays it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import cv2
import numpy as np
from rapidfuzz.distance import Levenshtein

from qa import align
from qa.models import OCRLine, Strictness
from qa.normalize import has_cjk, is_cjk, is_traditional

MAX_DISPUTED = 2
"""At most this many substituted letters, digits or ideographs between the judge's read
and the expected text: a judge's misread of a correct line is one or two characters; a
line read more differently than that is not rescued."""

MAX_UPSCALE = 4.0
"""Line crops are upscaled at most this much for tesseract."""

CONFIG = "--psm 7 -c load_system_dawg=0 -c load_freq_dawg=0"
"""One line per crop, dictionaries off: the second reader has no word list to pull a
misread towards a word."""


def lang_for(text: str) -> str | None:
    """The tesseract languages to read ``text`` with, or None when this reader has none
    for its script (kana, Hangul: no rescue)."""
    if any(0x3040 <= ord(c) <= 0x30FF or 0xAC00 <= ord(c) <= 0xD7AF for c in text):
        return None
    if has_cjk(text):
        return "chi_tra+eng" if any(is_traditional(c) for c in text) else "chi_sim+eng"
    return "eng"


def _letter(ch: str) -> bool:
    """A letter, digit or ideograph (what a misspelling changes); not a mark."""
    return ch.isalnum() or (is_cjk(ch) and unicodedata.category(ch).startswith("L"))


def _key_char(ch: str, case: bool) -> str:
    out = unicodedata.normalize("NFKC", ch)
    out = out if len(out) == 1 else ch
    return out if case else out.casefold()[:1] or out


def disputes(expected: str, judged: str, strictness: Strictness,
             not_judged: frozenset[str] = frozenset()) -> tuple[dict[int, str], str] | None:
    """Where the judge's read ``judged`` differs from ``expected``: ({index in ``expected``:
    the character read there instead}, the marks of ``expected`` it did not read), or None
    when it differs otherwise (a letter, digit or ideograph missing or extra, a mark read
    that is not there, more than :data:`MAX_DISPUTED` substitutions) or not at all.
    Whitespace is ignored; punctuation too when ``strictness`` does not judge it, and the
    marks ``not_judged`` (small text's sentence punctuation: see :mod:`qa.check`)."""
    def keep(ch: str) -> bool:
        return not ch.isspace() and ch not in not_judged and (
            strictness.punctuation or _letter(ch))

    want = [(i, ch) for i, ch in enumerate(expected) if keep(ch)]
    got = [ch for ch in judged if keep(ch)]
    a = "".join(_key_char(ch, strictness.case) for _, ch in want)
    b = "".join(_key_char(ch, strictness.case) for ch in got)
    subs: dict[int, str] = {}
    dropped: list[str] = []
    for op in Levenshtein.opcodes(a, b):
        if op.tag == "equal":
            continue
        n_src, n_dst = op.src_end - op.src_start, op.dest_end - op.dest_start
        src = [want[k][1] for k in range(op.src_start, op.src_end)]
        if op.tag == "replace" and n_src == n_dst:
            for j in range(n_src):
                i, ch = want[op.src_start + j]
                read = got[op.dest_start + j]
                if _letter(ch) != _letter(read):
                    return None  # a mark for a letter, or the other way round
                subs[i] = read
        elif op.tag == "delete" and not any(_letter(ch) for ch in src):
            dropped.extend(src)
        else:
            return None
    letters = [i for i in subs if _letter(expected[i])]
    if len(letters) > MAX_DISPUTED or not (subs or dropped):
        return None
    return subs, "".join(dropped)


@lru_cache(maxsize=4)
def _engine(lang: str):
    from qa.ocr import TesseractEngine

    return TesseractEngine(lang, CONFIG)


VARIANTS: tuple[tuple[bool, int], ...] = ((False, 48), (True, 48), (False, 32), (True, 32),
                                         (False, 64))
"""The ways the second reader reads a line, in order: (background evened out, line height
in pixels). tesseract drops a whole line, or misreads it, at one scale or preparation and
reads it right at another (measured on a 24 px legal line on a striped ground: nothing at
48 px, exact at 32 px), so a few are tried; the first that reads the expected text ends
the search."""


def readings(arr: np.ndarray, lines: list[OCRLine], lang: str) -> Iterator[str]:
    """tesseract's reads of ``lines`` (boxes in ``arr``'s pixels), lazily, one per
    :data:`VARIANTS` entry: each line on its own crop, joined in reading order like the
    judge's lines. Raises :class:`~qa.errors.EngineUnavailable` without tesseract or the
    language's data, and :class:`~qa.errors.QAError` when tesseract fails."""
    tess = _engine(lang)
    h, w = arr.shape[:2]
    crops = []
    for ln in lines:
        x0, y0, x1, y1 = ln.box
        pad = max(2, (y1 - y0) // 8)
        crop = arr[max(0, y0 - pad):min(h, y1 + pad), max(0, x0 - pad):min(w, x1 + pad)]
        if crop.size:
            grey = _grey(crop)
            crops.append((ln, grey, _flattened(grey)))
    for flat, height in VARIANTS:
        out = []
        for ln, grey, even in crops:
            text = " ".join(r.text for r in tess.read(_scaled(even if flat else grey, height)))
            if text.strip():
                out.append(ln.model_copy(update={"text": text, "engine": tess.name}))
        yield align.join(out)


def _grey(crop: np.ndarray) -> np.ndarray:
    """A line crop grey, dark on light: ink is the minority side of an Otsu threshold (the
    crop's border may be another ground: a light label on a dark picture)."""
    gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    thr, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return 255 - gray if float(np.mean(gray > thr)) < 0.5 else gray


def _flattened(gray: np.ndarray) -> np.ndarray:
    """A grey line crop with its background evened out (a gradient or stripes behind the
    line: what is lighter than the ink around it, closed over a half line height)."""
    k = max(3, (gray.shape[0] // 2) | 1)
    ground = cv2.morphologyEx(gray, cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return cv2.normalize(255 - cv2.subtract(ground, gray), None, 0, 255, cv2.NORM_MINMAX)


def _scaled(gray: np.ndarray, height: int) -> np.ndarray:
    """``gray`` scaled to ``height`` (upscaled at most :data:`MAX_UPSCALE` times), padded
    with its own border, as RGB."""
    f = min(MAX_UPSCALE, height / max(gray.shape[0], 1))
    if abs(f - 1.0) > 0.01:
        gray = cv2.resize(gray, None, fx=f, fy=f,
                          interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)
    pad = max(8, gray.shape[0] // 4)
    gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return np.stack([gray] * 3, axis=-1)


def describe(subs: dict[int, str], dropped: str, expected: str) -> str:
    """What was in dispute, for the finding's note."""
    parts = [f"{expected[i]!r} (char {i + 1}) read {r!r} by the judge" for i, r in sorted(subs.items())]
    if dropped:
        parts.append(f"{dropped!r} not read by the judge")
    return "; ".join(parts)

