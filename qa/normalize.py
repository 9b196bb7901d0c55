"""Text normalisation that knows the script, applied before comparing expected and read text.

Always (whatever the strictness): Unicode NFKC (full-width Latin/digits → half-width),
curly quotes → straight, dash variants → ``-``, ideographic full stop/comma → ``.``/``,``,
line breaks → spaces, spaces between two CJK characters dropped (they never matter).
Always, too: pictographs (emoji, ✨, ★) are dropped — see :mod:`qa.glyphs`; a finding
notes it. (Identical glyphs, ``I``/``l`` …, are not folded here: they are equal position by
position only, in :func:`qa.check` — folding them into one key would make ``L``, ``l``,
``I`` and ``i`` one letter once case is folded too.)
Per :class:`~qa.models.Strictness`: case folded unless ``case``; punctuation dropped unless
``punctuation`` (a ``.`` or ``,`` between digits is kept — it is part of a number, and a
price must never pass with its decimal point lost); whitespace removed unless
``whitespace`` (then runs collapse to one space).

Never folded: look-alikes (0/O, 1/l, 8/6, 日/曰) and Simplified vs Traditional Chinese —
those are real errors. :func:`traditional_chars` finds Traditional characters so a finding can
say so.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from pathlib import Path

import zhconv
from zhconv import zhconv as _zhconv_impl

from qa.glyphs import is_pictograph, without_pictographs
from qa.models import Strictness

_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\ufe63": "-",
    "\u3002": ".", "\u3001": ",", "\uff61": ".", "\uff64": ",",
    "\u00a0": " ", "\u3000": " ", "\t": " ", "\n": " ", "\r": " ",
})

_SPACES = re.compile(r"\s+")


def is_cjk(ch: str) -> bool:
    """True for CJK ideographs, kana, hangul and CJK punctuation / full-width forms."""
    if not ch:
        return False
    o = ord(ch)
    return (0x3000 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF
            or 0xFF00 <= o <= 0xFFEF or 0x20000 <= o <= 0x2FA1F)


def has_cjk(text: str) -> bool:
    return any(is_cjk(c) for c in text)


def canonical(text: str) -> str:
    """Script-aware canonical form, independent of strictness: NFKC, quotes/dashes folded,
    whitespace collapsed to single spaces, spaces between CJK characters removed."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    text = _SPACES.sub(" ", text).strip()
    text = _DASH_LIKE_ONE.sub("-", text)
    if " " in text and has_cjk(text):
        out = []
        for i, ch in enumerate(text):
            if ch == " " and 0 < i < len(text) - 1 and _cjkish(text[i - 1]) and _cjkish(text[i + 1]):
                continue
            out.append(ch)
        text = "".join(out)
    return text


_DASH_LIKE_ONE = re.compile(r"(?<=[0-9])\s*一|一\s*(?=[0-9])")
"""The ideograph 一 ("one") touching an Arabic digit is a dash in a range such as
9月6日—9月17日: the judge reads a CJK em dash as 一, and no Chinese text writes 一 right
against an Arabic digit, so the two are folded. 一 anywhere else stays a character."""


def _cjkish(ch: str) -> bool:
    # after NFKC, CJK full-width punctuation may have become ASCII; a space next to it
    # inside CJK text still does not matter
    return is_cjk(ch) or (unicodedata.category(ch).startswith("P") and ch not in "\"'")


_PUNCT_LIKE = frozenset("~")
"""Symbols that are punctuation in copy, though Unicode files them as maths: the tilde, which
the full-width tilde ``～`` becomes under NFKC and which stands for the wave dash ``〜`` (a
dash, ``Pd``) in a Japanese range — so ``7月1日〜7月31日`` and ``7月1日～7月31日`` have one key
when punctuation is not judged."""


def _is_punct(text: str, i: int) -> bool:
    ch = text[i]
    if not unicodedata.category(ch).startswith("P") and ch not in _PUNCT_LIKE:
        return False
    if ch in ".," and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
        return False  # decimal point / thousands separator is part of the number
    return True


def normalize(text: str, strictness: Strictness | None = None) -> str:
    """The comparison key for ``text``: two strings match iff their keys are equal (or, in
    :mod:`qa.check`, differ only by identical glyphs, position by position)."""
    s = strictness or Strictness()
    text = canonical(text)
    if any(is_pictograph(ch) for ch in text):
        text = _SPACES.sub(" ", without_pictographs(text)).strip()
    if not s.case:
        text = text.casefold()
    if not s.punctuation:
        text = "".join(ch for i, ch in enumerate(text) if not _is_punct(text, i))
        text = _SPACES.sub(" ", text).strip()
    if not s.whitespace:
        text = text.replace(" ", "")
    return text


def words(text: str, strictness: Strictness | None = None) -> list[str]:
    """Words for word-accuracy metrics: whitespace-separated for Latin, one per character
    for CJK (as CVTG-2K counts Chinese)."""
    s = strictness or Strictness()
    key = normalize(text, Strictness(case=s.case, punctuation=s.punctuation, whitespace=True))
    out: list[str] = []
    for tok in key.split(" "):
        buf = ""
        for ch in tok:
            if is_cjk(ch):
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(ch)
            else:
                buf += ch
        if buf:
            out.append(buf)
    return out


_ZH_LOCK = threading.Lock()


def _zh_loaded() -> None:
    # zhconv's default loader leaves its dictionary file open (a ResourceWarning); load
    # it by path, which zhconv reads inside ``with open(...)``
    with _ZH_LOCK:
        if _zhconv_impl.zhcdicts is None:
            _zhconv_impl.loaddict(str(Path(_zhconv_impl.__file__).with_name("zhcdict.json")))


def is_traditional(ch: str) -> bool:
    """True when ``ch`` is a Traditional Chinese character with a different Simplified form."""
    if not is_cjk(ch):
        return False
    _zh_loaded()
    return zhconv.convert(ch, "zh-hans") != ch


def traditional_chars(text: str) -> list[str]:
    """The Traditional Chinese characters in ``text`` (in order, without repeats)."""
    seen: list[str] = []
    for ch in text:
        if is_traditional(ch) and ch not in seen:
            seen.append(ch)
    return seen


def wants_simplified(language: str, expected: str) -> bool:
    """True when the spec asks for Simplified Chinese (``zh``, ``zh-CN``, ``zh-Hans`` …, or a
    CJK string with no Traditional characters in it)."""
    lang = language.lower().replace("_", "-")
    if lang in ("zh-tw", "zh-hk", "zh-mo") or "hant" in lang:
        return False
    return has_cjk(expected) and not traditional_chars(expected)
