"""Identical glyphs and pictographs: what an OCR read cannot tell apart, or cannot read.

**Identical glyphs** (:data:`IDENTICAL`) are characters drawn the same in common faces, so
no reader — person or OCR — can say from the image which of them was set: ``I`` and ``l``
in sans faces (``AI`` reads ``Al``), the katakana length mark ``ー`` and the ideograph
``一``, the middle dots ``·`` ``・`` ``•`` ``‧``, and katakana against the kanji drawn like
them (``ロ``/``口``, ``カ``/``力``, ``エ``/``工``, ``ニ``/``二``, ``ハ``/``八``, ``ト``/``卜``,
``タ``/``夕``, ``へ``/``ヘ``), and the wave dash ``〜`` against the tilde ``～`` (``7月1日〜7月31日``
reads ``7月1日～7月31日``). A read equals the expected text when, position
by position, each character is the same, or (``case: any``) the same letter in another
case, or its identical twin (:func:`same_char`) — never by chains of the two (``SAIE`` is
not ``Sale``); a region that reads right only thanks to a twin passes *with a note*
naming the pair (:func:`identical_note`). (Hyphen, en dash, minus and em dash are already
one character in every key: :mod:`qa.normalize`.)

Never in the table: a digit against a letter (``1``/``l``, ``0``/``O`` — a price must never
pass with a letter in it; :mod:`qa.lookalike` checks those glyph by glyph), and two
ideographs that differ in strokes (``日``/``曰``, ``未``/``末``).

**Footnote marks** (:data:`FOOTNOTE_MARKS`: ``*``, ``※``, ``†``, ``‡``) point to a note; at
legal size they are a few pixels of ink the judge often drops (``※一部商品を除きます。`` reads
``一部商品を除きます。``), so :mod:`qa.check` does not judge them in small text, with a note.

**Pictographs** (:func:`is_pictograph`: emoji, dingbats, stars, arrows, geometric shapes)
are not text an OCR model can verify. They are left out of the comparison on both sides,
and a finding says so (``✨ not verified: pictograph``); they are never counted as read.
"""

from __future__ import annotations

IDENTICAL: tuple[tuple[str, str], ...] = (
    ("Il", "capital I and small l: one vertical stroke in sans faces"),
    ("ー一", "katakana length mark and the ideograph one: one horizontal stroke"),
    ("·・•‧∙", "middle dots: one dot"),
    ("ロ口", "katakana ro and the kanji mouth"),
    ("カ力", "katakana ka and the kanji power"),
    ("エ工", "katakana e and the kanji work"),
    ("ニ二", "katakana ni and the kanji two"),
    ("ハ八", "katakana ha and the kanji eight"),
    ("ト卜", "katakana to and the kanji divination"),
    ("タ夕", "katakana ta and the kanji evening"),
    ("へヘ", "hiragana and katakana he"),
    ("~〜", "tilde and wave dash: one wave in CJK faces (Shift-JIS maps one code to either; "
            "the full-width tilde ～ is ~ after NFKC)"),
)
"""Groups of characters drawn identically, each with why. Small on purpose: every pair
here is a pair QA cannot tell apart, so each costs a little certainty."""

FOOTNOTE_MARKS = frozenset("*※†‡")
"""Marks that refer to a footnote: not judged in legal-size text (:mod:`qa.check`), in any
script; every other character of a small CJK line stays exact."""

_FOLD: dict[str, str] = {ch: group[0] for group, _ in IDENTICAL for ch in group[1:]}
_WHY: dict[str, str] = {ch: why for group, why in IDENTICAL for ch in group}


def same_char(a: str, b: str, *, case: bool) -> bool:
    """``a`` read where ``b`` is expected is right: equal, equal but for case (when case is
    not judged: ``case=False``), or identical glyphs."""
    return a == b or (not case and a.lower() == b.lower()) or fold(a) == fold(b)


def same_text(expected: str, read: str, *, case: bool) -> bool:
    """Two case-preserving comparison keys are equal position by position (:func:`same_char`)."""
    return len(expected) == len(read) and all(
        same_char(r, e, case=case) for e, r in zip(expected, read))


def fold(text: str) -> str:
    """``text`` with each identical glyph replaced by its group's first member."""
    return "".join(_FOLD.get(ch, ch) for ch in text)


def identical_note(expected: str, read: str) -> str:
    """A note naming the identical-glyph pairs by which ``read`` differs from ``expected``
    (both comparison keys of equal folded form), or ``""`` when there are none."""
    from rapidfuzz.distance import Levenshtein

    pairs: list[str] = []
    for op in Levenshtein.opcodes(expected, read):
        if op.tag != "replace":
            continue
        for a, b in zip(expected[op.src_start:op.src_end], read[op.dest_start:op.dest_end]):
            if a != b and fold(a) == fold(b):
                desc = f"{b!r} for {a!r} ({_WHY[a]})"
                if desc not in pairs:
                    pairs.append(desc)
    if not pairs:
        return ""
    return "identical glyphs accepted: read " + "; ".join(pairs)


_PICTO_RANGES = (
    (0x1F000, 0x1FAFF),  # emoji, mahjong/domino/cards, enclosed, symbols & pictographs
    (0x2600, 0x27BF),  # miscellaneous symbols, dingbats (✨ ✔ ❤)
    (0x2B00, 0x2BFF),  # miscellaneous symbols and arrows (⭐ ⬆)
    (0x2190, 0x21FF),  # arrows
    (0x2300, 0x23FF),  # miscellaneous technical (⌚ ⏰)
    (0x25A0, 0x25FF),  # geometric shapes (● ▶ ■ ★ is 0x2605, above)
    (0x1F1E6, 0x1F1FF),  # regional indicators (flags)
)
_PICTO_MARKS = {0xFE0F, 0xFE0E, 0x200D, 0x20E3, 0x3030, 0x303D, 0x3297, 0x3299}
_PICTO_FIRST = min(lo for lo, _ in _PICTO_RANGES)


def is_pictograph(ch: str) -> bool:
    """True for an emoji or pictograph (and the joiners/selectors that build them)."""
    if not ch:
        return False
    o = ord(ch)
    if o in _PICTO_MARKS or 0x1F3FB <= o <= 0x1F3FF:
        return True
    if o < _PICTO_FIRST:  # letters, digits, punctuation: every check asks for each of them
        return False
    return any(lo <= o <= hi for lo, hi in _PICTO_RANGES)


def pictographs(text: str) -> list[str]:
    """The pictographs of ``text`` (an emoji sequence joined by ZWJ, with its selectors and
    skin tone, as one), in order, without repeats."""
    items: list[str] = []
    joined = False
    for ch in text:
        o = ord(ch)
        if not is_pictograph(ch):
            joined = False
            continue
        if o == 0x200D:
            joined = True
            continue
        if o in _PICTO_MARKS or 0x1F3FB <= o <= 0x1F3FF:
            continue  # selectors, keycap, skin tones belong to the one before
        if joined and items:
            items[-1] += "\u200d" + ch
        else:
            items.append(ch)
        joined = False
    return list(dict.fromkeys(items))


def without_pictographs(text: str) -> str:
    return "".join(ch for ch in text if not is_pictograph(ch))


def pictograph_note(text: str) -> str:
    found = pictographs(text)
    if not found:
        return ""
    return " ".join(found) + " not verified: pictograph" + ("s" if len(found) > 1 else "")
